-- SPDX-License-Identifier: Apache-2.0
-- wrk script: POST a webhook-sized JSON body, as kabard does to the sink.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"files/batch_123456.jsonl"}}'
