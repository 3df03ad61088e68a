// End-to-end check of flowrun with the published Dify Node SDK
// (dify-client@2.3.2). Run by difyclient_test.go against a live server:
//
//   FLOWRUN_BASE_URL=http://127.0.0.1:5001/v1 FLOWRUN_KEY=app-... node e2e.mjs
//
// Prints one line per check and exits 1 if any check failed.
import { CompletionClient } from "dify-client";

const base = process.env.FLOWRUN_BASE_URL;
const key = process.env.FLOWRUN_KEY; // an app serving examples/chain3.yml
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
const keys = (o) => Object.keys(o ?? {}).join(",");

// Reads a Dify SSE stream: "data: <json>\n\n" frames, "event: ping\n\n"
// keep-alives.
function readStream(stream) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const events = [];
    let pings = 0;
    stream.on("data", (chunk) => {
      buf += chunk.toString("utf8");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (frame === "event: ping") {
          pings++;
        } else if (frame.startsWith("data: ")) {
          events.push(JSON.parse(frame.slice(6)));
        } else {
          reject(new Error("unexpected frame " + JSON.stringify(frame)));
        }
      }
    });
    stream.on("end", () => resolve({ events, pings, rest: buf }));
    stream.on("error", reject);
  });
}

const client = new CompletionClient(key, base);

// Blocking run.
const blocking = await client.runWorkflow({ query: "hello" }, user);
check(blocking.status === 200, "blocking run answers 200", blocking.status);
check(keys(blocking.data) === "task_id,workflow_run_id,data", "blocking body key order", keys(blocking.data));
check(
  keys(blocking.data.data) === "id,workflow_id,status,outputs,error,elapsed_time,total_tokens,total_steps,created_at,finished_at",
  "blocking data key order",
  keys(blocking.data.data),
);
check(
  blocking.data.data.status === "succeeded" && blocking.data.data.outputs.answer === "hello-1-2-3",
  "blocking run outputs",
  blocking.data.data,
);
check(blocking.data.data.id === blocking.data.workflow_run_id, "data.id is the run id");

// Get the run back.
const got = await client.sendRequest("GET", `/workflows/run/${blocking.data.workflow_run_id}`);
check(got.status === 200 && got.data.status === "succeeded", "get run", got.data);
check(typeof got.data.inputs === "string" && JSON.parse(got.data.inputs).query === "hello", "get run inputs is a JSON string", got.data.inputs);
// Dify 1.17: outputs is an object; inputs stays the stored JSON text.
check(typeof got.data.outputs === "object" && got.data.outputs.answer === "hello-1-2-3", "get run outputs is an object", got.data.outputs);

// Streaming run.
const streaming = await client.runWorkflow({ query: "stream" }, user, true);
check(streaming.status === 200, "streaming run answers 200", streaming.status);
check(String(streaming.headers["content-type"]).startsWith("text/event-stream"), "streaming content type", streaming.headers["content-type"]);
const { events, rest } = await readStream(streaming.data);
const names = events.map((e) => e.event);
check(rest === "", "stream ends on a frame boundary", rest);
check(names[0] === "workflow_started" && names[names.length - 1] === "workflow_finished", "stream starts and ends right", names);
check(events.every((e) => keys(e).startsWith("event,workflow_run_id,task_id,data")), "event key order", events.map(keys));
const runIDs = new Set(events.map((e) => e.workflow_run_id));
check(runIDs.size === 1, "one run id per stream", [...runIDs]);
const finished = events[events.length - 1];
check(finished.data.status === "succeeded" && finished.data.outputs.answer === "stream-1-2-3", "streaming outputs", finished.data);
check(finished.data.created_by && finished.data.created_by.user === user, "created_by.user", finished.data.created_by);
const text = events.filter((e) => e.event === "text_chunk").map((e) => e.data.text).join("");
check(text === "stream-1-2-3", "text_chunk events carry the End outputs", text);
check(names.filter((n) => n === "node_started").length === 5 && names.filter((n) => n === "node_finished").length === 5, "five node_started/node_finished", names);

// Stop (the run is already over: Dify still answers success).
const stop = await client.sendRequest("POST", `/workflows/tasks/${finished.task_id}/stop`, { user });
check(stop.status === 200 && stop.data.result === "success", "stop answers success", stop.data);
const stopped = await client.sendRequest("GET", `/workflows/run/${finished.workflow_run_id}`);
check(stopped.data.status === "succeeded", "a finished run stays finished after stop", stopped.data.status);

// Parameters and info.
const params = await client.getApplicationParameters(user);
check(params.status === 200 && params.data.user_input_form[0]["text-input"].variable === "query", "parameters", params.data.user_input_form);
const info = await client.sendRequest("GET", "/info", null, { user });
check(info.data.name === "chain3" && info.data.mode === "workflow", "info", info.data);

// Errors surface as axios errors with Dify's body.
try {
  await new CompletionClient("app-not-a-real-key", base).runWorkflow({ query: "x" }, user);
  check(false, "a bad key is rejected");
} catch (err) {
  check(err.response?.status === 401 && err.response.data.code === "unauthorized", "a bad key is rejected with 401 unauthorized", err.response?.data);
}
try {
  await client.runWorkflow({}, user);
  check(false, "missing input is rejected");
} catch (err) {
  check(
    err.response?.status === 400 && err.response.data.code === "invalid_param" && err.response.data.message === "query is required in input form",
    "missing input is rejected with 400 invalid_param",
    err.response?.data,
  );
}

console.log(failed === 0 ? "all checks passed" : `${failed} check(s) failed`);
process.exit(failed === 0 ? 0 : 1);
