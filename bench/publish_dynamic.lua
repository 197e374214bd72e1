-- SPDX-License-Identifier: Apache-2.0
-- wrk script: publish events for a dynamic webhook (webhook_config), so each
-- delivery is signed with an RS256 JWT. KABAR_API_KEY and SINK_URL come from
-- the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = os.getenv("KABAR_API_KEY")
wrk.body = '{"type":"batch.succeeded","data":{"id":"batch_123456","output_file_uri":"files/batch_123456.jsonl"},' ..
           '"webhook_config":{"uris":["' .. os.getenv("SINK_URL") .. '"],"user_metadata":{"job":"bench"}}}'
