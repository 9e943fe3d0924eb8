// The TypeScript SDK's client against our server over stdio, validating with Ajv in strict mode.
//
// Run by tests/clients/test_ts_client.py as `node --input-type=module` with this file on stdin,
// from the folder where the npm packages are installed (tests/clients/install.sh), so the bare
// imports below resolve there. Input: the JSON in TS_CLIENT_PLAN, {"command", "args", "calls":
// {tool: [arguments, ...]}}. Output: one JSON report on stdout.
//
// Strict Ajv (draft 2020-12, `strict: true`, all errors), with ajv-formats and without: a schema with an
// unknown keyword, a format without a plugin, a union type without allowUnionTypes, or a keyword
// applied to the wrong type fails to compile; the SDK compiles every output schema on listTools()
// and checks every structured result against it on callTool().
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";

const plan = JSON.parse(process.env.TS_CLIENT_PLAN);
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
// and the strictest case: no format plugin at all (Ajv then refuses any schema naming a format)
const bare = new Ajv2020({ strict: true, allErrors: true });
const report = { sdk: null, tools: [], compiled: 0, calls: 0, errors: [], prompt_error: null };

const transport = new StdioClientTransport({
  command: plan.command,
  args: plan.args,
  env: process.env,
  stderr: "pipe",
});
let stderr = "";
transport.stderr?.on("data", (chunk) => (stderr += chunk));
const client = new Client(
  { name: "support-db-mcp-ts-check", version: "1" },
  { jsonSchemaValidator: new AjvJsonSchemaValidator(ajv) },
);

try {
  await client.connect(transport);
  report.sdk = client.getServerVersion();
  const { tools } = await client.listTools(); // compiles every output schema (strict)
  for (const tool of tools) {
    report.tools.push(tool.name);
    for (const [side, schema] of [["input", tool.inputSchema], ["output", tool.outputSchema]]) {
      try {
        if (schema) bare.compile(schema);
      } catch (error) {
        report.errors.push(`${tool.name}: ${side} schema does not compile without formats: ${error.message}`);
      }
    }
    let checkInput;
    try {
      checkInput = ajv.compile(tool.inputSchema);
      report.compiled += 1;
    } catch (error) {
      report.errors.push(`${tool.name}: input schema does not compile: ${error.message}`);
      continue;
    }
    for (const args of plan.calls[tool.name] ?? []) {
      if (!checkInput(args)) {
        report.errors.push(`${tool.name}: ${JSON.stringify(args)} breaks the input schema: ${ajv.errorsText(checkInput.errors)}`);
        continue;
      }
      try {
        const result = await client.callTool({ name: tool.name, arguments: args }); // checks the output
        report.calls += 1;
        if (result.isError) {
          report.errors.push(`${tool.name}: ${JSON.stringify(args)} failed: ${JSON.stringify(result.content)}`);
        }
      } catch (error) {
        report.errors.push(`${tool.name}: ${JSON.stringify(args)}: ${error.message}`);
      }
    }
  }
  for (const name of Object.keys(plan.calls)) {
    if (!report.tools.includes(name)) report.errors.push(`${name} is not listed`);
  }
  try {
    await client.getPrompt({ name: "define_model", arguments: {} });
  } catch (error) {
    report.prompt_error = { code: error.code, message: error.message };
  }
} catch (error) {
  report.errors.push(`client: ${error.stack ?? error}`);
} finally {
  await client.close();
}
report.stderr = stderr;
process.stdout.write(JSON.stringify(report) + "\n");
