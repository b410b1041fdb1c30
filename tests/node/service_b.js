// Service B in Node.js for the ldai-otel serve tests: no LaunchDarkly code at all.
//
// The OpenTelemetry Node SDK with the contrib OpenAI instrumentation and the
// real `openai` client (pointed at the loopback stub, OPENAI_BASE_URL); spans
// exported over OTLP/HTTP protobuf to OTLP_ENDPOINT. Routes:
//   POST /answer      joins the caller's trace (W3C traceparent): two chat calls
//                     around a tool span, inside a server span.
//   POST /marked-run  marks a run itself: a root span with the documented
//                     ld.ai_config.* attributes, then the same work.
//   POST /quit        flushes the exporter and exits.
// Prints "PORT <n>" when ready.
'use strict';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'node-model-service' }),
  traceExporter: new OTLPTraceExporter({ url: process.env.OTLP_ENDPOINT }),
  instrumentations: [new OpenAIInstrumentation()],
});
sdk.start();

// Required after the SDK started, so the instrumentation patches it.
const http = require('node:http');
const { trace, context, propagation, SpanKind } = require('@opentelemetry/api');
const OpenAI = require('openai');

const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: 'test', maxRetries: 0 });
const tracer = trace.getTracer('node-model-service');

async function work() {
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'weather?' }] });
  const tool = tracer.startSpan('execute_tool search_kb', {
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search_kb' },
  });
  tool.end();
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'and now?' }] });
}

// The attribute contract of `ldai-otel serve` (README, "Marking a run, in any language").
const RUN_ATTRIBUTES = {
  'ld.ai_config.key': 'chat-config',
  'ld.ai_config.variation_key': 'v-chat',
  'ld.ai_config.version': 3,
  'ld.ai_config.context.kind': 'user',
  'ld.ai_config.context.key': 'node-user',
};

async function inSpan(name, options, parent) {
  const span = tracer.startSpan(name, options, parent);
  try {
    await context.with(trace.setSpan(parent, span), work);
  } finally {
    span.end();
  }
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', async () => {
    try {
      if (req.url === '/quit') {
        await sdk.shutdown();
        res.end('bye', () => process.exit(0));
        return;
      }
      if (req.url === '/answer') {
        const parent = propagation.extract(context.active(), req.headers);
        await inSpan('POST /answer', { kind: SpanKind.SERVER }, parent);
      } else if (req.url === '/marked-run') {
        await inSpan('node agent run', { attributes: RUN_ATTRIBUTES }, context.active());
      } else {
        res.statusCode = 404;
        res.end('no such route');
        return;
      }
      res.end('answered');
    } catch (err) {
      console.error(err && err.stack ? err.stack : String(err));
      res.statusCode = 500;
      res.end('failed');
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  console.log('PORT ' + server.address().port);
});
