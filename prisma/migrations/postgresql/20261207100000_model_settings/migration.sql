-- CreateTable
CREATE TABLE "ModelSettings" (
    "name" TEXT NOT NULL,
    "batching" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ModelSettings_pkey" PRIMARY KEY ("name")
);
