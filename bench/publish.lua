-- SPDX-License-Identifier: Apache-2.0
-- wrk script: publish events to kabard (POST /v1/events). The API key comes
-- from the KABAR_API_KEY environment variable.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = os.getenv("KABAR_API_KEY")
wrk.body = '{"type":"batch.succeeded","data":{"id":"batch_123456","output_file_uri":"files/batch_123456.jsonl"}}'
