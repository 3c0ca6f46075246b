// Enqueue tweetfeed.add_activity from Node.js with celery-node; prints the task id, then the
// keyword arguments the message carries (the test checks them against the task's JSON Schema).
// usage: node add_activity.js [broker url] '{"actor": "user:42", "verb": "like", ...}'
const { randomUUID } = require("node:crypto");
const { createClient } = require("celery-node");

async function main() {
  const broker = process.argv[2] || "redis://127.0.0.1:6379/0";
  const payload = JSON.parse(process.argv[3]);
  // No result is read, but the backend must be a reachable URL: celery-node waits for it.
  const client = createClient(broker, broker, "fanout");
  await client.isReady();
  const id = randomUUID();
  // Protocol 2, args empty, the payload as kwargs. client.sendTask() would publish in the
  // background without a promise to await, so a disconnect right after it loses the message.
  const message = client.createTaskMessage(id, "tweetfeed.add_activity", [], payload);
  await client.broker.publish(message.body, "", "fanout", message.headers, message.properties);
  console.log(id);
  console.log(JSON.stringify(message.body[1]));
  await client.disconnect();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
