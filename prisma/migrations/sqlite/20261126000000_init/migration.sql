-- CreateTable
CREATE TABLE "TrainingRun" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'running',
    "backend" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "seed" INTEGER,
    "bnSteps" INTEGER,
    "error" TEXT,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" DATETIME,
    "heartbeatAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "EpochMetric" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "runId" TEXT NOT NULL,
    "epoch" INTEGER NOT NULL,
    "loss" REAL,
    "dataLoss" REAL,
    "regularizationLoss" REAL,
    "metrics" JSONB NOT NULL,
    "recordedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "EpochMetric_runId_fkey" FOREIGN KEY ("runId") REFERENCES "TrainingRun" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "ModelVersion" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "runId" TEXT,
    "artifactSha256" TEXT NOT NULL,
    "artifactSize" INTEGER NOT NULL,
    "artifactPath" TEXT NOT NULL,
    "opset" INTEGER NOT NULL,
    "inputs" JSONB NOT NULL,
    "outputs" JSONB NOT NULL,
    "task" TEXT NOT NULL,
    "classLabels" JSONB NOT NULL,
    "featureNames" JSONB NOT NULL,
    "parityMaxAbsDiff" REAL NOT NULL,
    "folded" BOOLEAN NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ModelVersion_runId_fkey" FOREIGN KEY ("runId") REFERENCES "TrainingRun" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "ModelAlias" (
    "name" TEXT NOT NULL,
    "alias" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "updatedAt" DATETIME NOT NULL,

    PRIMARY KEY ("name", "alias"),
    CONSTRAINT "ModelAlias_name_version_fkey" FOREIGN KEY ("name", "version") REFERENCES "ModelVersion" ("name", "version") ON DELETE RESTRICT ON UPDATE CASCADE
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
