// End-to-end check of flowrun's chat API with the published Dify Node SDK
// (dify-client@2.3.2). Run by difyclient_test.go against a live server in
// each persistence mode:
//
//   FLOWRUN_BASE_URL=http://127.0.0.1:5001/v1 FLOWRUN_KEY=app-... node chat.mjs
//
// FLOWRUN_KEY is an app serving examples/chat.yml. The SDK's ChatClient
// covers chat messages, conversations, renaming, deletion and feedback;
// suggested questions and stop, which 2.3.2 has no method for, go through
// its generic sendRequest. Prints one line per check and exits 1 if any
// check failed.
import { ChatClient } from "dify-client";

const base = process.env.FLOWRUN_BASE_URL;
const key = process.env.FLOWRUN_KEY;
if (!base || !key) {
  console.error("FLOWRUN_BASE_URL and FLOWRUN_KEY are required");
  process.exit(2);
}
const user = `chat-user-${process.pid}`;
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

function readStream(stream) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const events = [];
    stream.on("data", (chunk) => {
      buf += chunk.toString("utf8");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (frame.startsWith("data: ")) {
          events.push(JSON.parse(frame.slice(6)));
        } else if (frame !== "event: ping") {
          reject(new Error("unexpected frame " + JSON.stringify(frame)));
        }
      }
    });
    stream.on("end", () => resolve({ events, rest: buf }));
    stream.on("error", reject);
  });
}

const client = new ChatClient(key, base);

// A new conversation, blocking.
const first = await client.createChatMessage({}, "hello there", user);
check(first.status === 200, "blocking turn answers 200", first.status);
check(
  keys(first.data) === "event,task_id,id,message_id,conversation_id,mode,answer,metadata,created_at",
  "blocking body key order",
  keys(first.data),
);
check(first.data.answer === "Turn 1: you said hello there; before that: ", "first answer", first.data.answer);
check(first.data.mode === "advanced-chat" && first.data.id === first.data.message_id, "mode and ids", first.data);
const conv = first.data.conversation_id;

// The same conversation, streaming.
const second = await client.createChatMessage({}, "and again", user, true, conv);
check(second.status === 200, "streaming turn answers 200", second.status);
const { events, rest } = await readStream(second.data);
const names = events.map((e) => e.event);
check(rest === "", "stream ends on a frame boundary", rest);
check(names[0] === "workflow_started" && names.at(-2) === "workflow_finished" && names.at(-1) === "message_end", "stream order", names);
check(events.every((e) => keys(e).startsWith("event,conversation_id,message_id,created_at")), "chat frames open with the conversation", events.map(keys));
check(events.every((e) => e.conversation_id === conv), "one conversation per stream");
const answer = events.filter((e) => e.event === "message").map((e) => e.answer).join("");
check(answer === "Turn 2: you said and again; before that: hello there", "second answer continues the conversation", answer);
const end = events.at(-1);
check(keys(end.metadata) === "annotation_reply,retriever_resources,usage", "message_end metadata", end.metadata);

// A third turn in another conversation of the same user.
const other = await client.createChatMessage({}, "another topic", user);
check(other.data.conversation_id !== conv, "a turn without conversation_id starts a new one");

// Conversations, newest first.
const list = await client.getConversations(user);
check(list.status === 200 && keys(list.data) === "limit,has_more,data", "conversations", list.data);
check(list.data.data.length === 2 && list.data.data[0].id === other.data.conversation_id, "newest conversation first", list.data.data.map((c) => c.id));
check(keys(list.data.data[0]) === "id,name,inputs,status,introduction,created_at,updated_at", "conversation key order", keys(list.data.data[0]));
const page = await client.getConversations(user, null, 1);
check(page.data.data.length === 1 && page.data.has_more === true, "limit and has_more", page.data);

// Messages of the first conversation, oldest first.
const msgs = await client.getConversationMessages(user, conv);
check(msgs.status === 200 && msgs.data.data.length === 2, "two messages", msgs.data);
check(msgs.data.data[0].query === "hello there" && msgs.data.data[1].query === "and again", "messages oldest first", msgs.data.data.map((m) => m.query));
check(
  keys(msgs.data.data[0]) === "id,conversation_id,parent_message_id,inputs,query,answer,feedback,retriever_resources,created_at,agent_thoughts,message_files,status,error",
  "message key order",
  keys(msgs.data.data[0]),
);

// Feedback.
const like = await client.messageFeedback(first.data.message_id, "like", user);
check(like.status === 200 && like.data.result === "success", "feedback", like.data);
const liked = await client.getConversationMessages(user, conv);
check(liked.data.data[0].feedback?.rating === "like", "feedback shows on the message", liked.data.data[0].feedback);

// Suggested questions (no method in 2.3.2: the SDK's sendRequest).
const suggested = await client.sendRequest("GET", `/messages/${first.data.message_id}/suggested`, null, { user });
check(suggested.status === 200 && suggested.data.result === "success" && Array.isArray(suggested.data.data), "suggested questions", suggested.data);

// Stop (the turn is over: success, as Dify).
const stop = await client.sendRequest("POST", `/chat-messages/${end.task_id}/stop`, { user });
check(stop.status === 200 && stop.data.result === "success", "stop answers success", stop.data);

// Rename, delete.
const renamed = await client.renameConversation(conv, "my chat", user, false);
check(renamed.status === 200 && renamed.data.name === "my chat", "rename", renamed.data);
const del = await client.deleteConversation(other.data.conversation_id, user);
check(del.status === 204, "delete answers 204", del.status);
const after = await client.getConversations(user);
check(after.data.data.length === 1 && after.data.data[0].id === conv && after.data.data[0].name === "my chat", "after rename and delete", after.data.data);

// Errors surface as axios errors with Dify's body.
try {
  await client.createChatMessage({}, "x", "someone-else", false, conv);
  check(false, "another user's conversation is refused");
} catch (err) {
  check(err.response?.status === 404 && err.response.data.message === "Conversation Not Exists.", "another user's conversation is 404", err.response?.data);
}

console.log(failed === 0 ? "all checks passed" : `${failed} check(s) failed`);
process.exit(failed === 0 ? 0 : 1);
