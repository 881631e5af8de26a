// Validate an AsyncAPI document with the official @asyncapi/parser; print diagnostics as JSON lines.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

(async () => {
  const text = fs.readFileSync(process.argv[2], "utf8");
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text);
  for (const d of diagnostics) {
    console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path }));
  }
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (!document || errors.length) process.exit(1);
  console.log(JSON.stringify({ ok: true, channels: document.channels().length, messages: document.allMessages().length }));
})().catch((e) => { console.error(e); process.exit(2); });
