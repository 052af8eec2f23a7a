// Tests read what they assert on; service logs would only bury the results (LOG_LEVEL=info to see them).
process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'silent';
