-- AlterTable
ALTER TABLE "ModelVersion" ADD COLUMN "bnGuardWarning" TEXT;
