// The published Dify Node SDK's fileUpload against flowrun, then a run of
// examples/file-info.yml with the uploaded file:
//
//   FLOWRUN_BASE_URL=http://127.0.0.1:5001/v1 FLOWRUN_KEY=app-flowrun-file-info-local-only node files.mjs
//
// Prints one line per check and exits 1 if any check failed.
import { CompletionClient } from "dify-client";

const base = process.env.FLOWRUN_BASE_URL;
const key = process.env.FLOWRUN_KEY; // an app serving examples/file-info.yml
if (!base || !key) {
  console.error("FLOWRUN_BASE_URL and FLOWRUN_KEY are required");
  process.exit(2);
}
const user = "e2e-user";
let failed = 0;
function check(ok, what, detail) {
  if (ok) {
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}${detail === undefined ? "" : ": " + JSON.stringify(detail)}`);
  }
}

const client = new CompletionClient(key, base);
const text = "hello from the Node SDK";
const form = new FormData();
form.append("file", new Blob([text], { type: "text/plain" }), "sdk.txt");
form.append("user", user);
const up = await client.fileUpload(form);
check(up.status === 201, "fileUpload answers 201", up.status);
check(
  up.data.name === "sdk.txt" && up.data.size === text.length && up.data.extension === "txt" && up.data.mime_type === "text/plain",
  "fileUpload describes the file",
  up.data,
);
check(typeof up.data.source_url === "string" && up.data.source_url.includes("/file-preview?"), "fileUpload gives a signed source_url", up.data.source_url);

const run = await client.runWorkflow(
  { doc: { transfer_method: "local_file", upload_file_id: up.data.id, type: "document" } },
  user,
);
const out = run.data?.data?.outputs ?? {};
check(run.data?.data?.status === "succeeded", "a run with the uploaded file succeeds", run.data);
check(out.name === "sdk.txt" && out.size === text.length && out.type === "document" && out.extension === ".txt", "the run reads the File's attributes", out);

// The signed URL serves the bytes without an API key.
const res = await fetch(up.data.source_url);
check(res.status === 200 && (await res.text()) === text, "source_url serves the bytes", res.status);

process.exit(failed ? 1 : 0);
