-- CreateTable
CREATE TABLE "ModelSettings" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "batching" JSONB NOT NULL,
    "updatedAt" DATETIME NOT NULL
);
