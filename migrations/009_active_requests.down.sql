DROP TABLE active_requests;
