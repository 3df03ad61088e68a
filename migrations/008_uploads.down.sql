DROP TABLE upload_chunks;
DROP TABLE uploads;
