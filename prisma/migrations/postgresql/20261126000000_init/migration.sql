-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('running', 'succeeded', 'failed');

-- CreateEnum
CREATE TYPE "Task" AS ENUM ('classification', 'regression');

-- CreateTable
CREATE TABLE "TrainingRun" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'running',
    "backend" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "seed" INTEGER,
    "bnSteps" INTEGER,
    "error" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "heartbeatAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TrainingRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EpochMetric" (
    "id" SERIAL NOT NULL,
    "runId" TEXT NOT NULL,
    "epoch" INTEGER NOT NULL,
    "loss" DOUBLE PRECISION,
    "dataLoss" DOUBLE PRECISION,
    "regularizationLoss" DOUBLE PRECISION,
    "metrics" JSONB NOT NULL,
    "recordedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EpochMetric_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelVersion" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "runId" TEXT,
    "artifactSha256" TEXT NOT NULL,
    "artifactSize" INTEGER NOT NULL,
    "artifactPath" TEXT NOT NULL,
    "opset" INTEGER NOT NULL,
    "inputs" JSONB NOT NULL,
    "outputs" JSONB NOT NULL,
    "task" "Task" NOT NULL,
    "classLabels" JSONB NOT NULL,
    "featureNames" JSONB NOT NULL,
    "parityMaxAbsDiff" DOUBLE PRECISION NOT NULL,
    "folded" BOOLEAN NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ModelVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelAlias" (
    "name" TEXT NOT NULL,
    "alias" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ModelAlias_pkey" PRIMARY KEY ("name","alias")
);

-- CreateIndex
CREATE INDEX "TrainingRun_status_heartbeatAt_idx" ON "TrainingRun"("status", "heartbeatAt");

-- CreateIndex
CREATE INDEX "TrainingRun_name_idx" ON "TrainingRun"("name");

-- CreateIndex
CREATE UNIQUE INDEX "EpochMetric_runId_epoch_key" ON "EpochMetric"("runId", "epoch");

-- CreateIndex
CREATE INDEX "ModelVersion_runId_idx" ON "ModelVersion"("runId");

-- CreateIndex
CREATE INDEX "ModelVersion_artifactSha256_idx" ON "ModelVersion"("artifactSha256");

-- CreateIndex
CREATE UNIQUE INDEX "ModelVersion_name_version_key" ON "ModelVersion"("name", "version");

-- CreateIndex
CREATE INDEX "ModelAlias_name_version_idx" ON "ModelAlias"("name", "version");

-- AddForeignKey
ALTER TABLE "EpochMetric" ADD CONSTRAINT "EpochMetric_runId_fkey" FOREIGN KEY ("runId") REFERENCES "TrainingRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelVersion" ADD CONSTRAINT "ModelVersion_runId_fkey" FOREIGN KEY ("runId") REFERENCES "TrainingRun"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelAlias" ADD CONSTRAINT "ModelAlias_name_version_fkey" FOREIGN KEY ("name", "version") REFERENCES "ModelVersion"("name", "version") ON DELETE RESTRICT ON UPDATE CASCADE;
