// Preload (`node --import ./bench/http-timeline.mjs …`) that records when each HTTP request of the
// process leaves and when its response ends, and writes them to $TIMELINE_FILE as JSON at exit.
// bench/timeline.ts uses it to say where a no-op's wall time goes: before the first request,
// between pages, after the last one.
import dc from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** [kind, request id, ms since the process started] */
const events = [];
const ids = new WeakMap();
let next = 0;

dc.subscribe('http.client.request.start', ({ request }) => {
  const id = next++;
  ids.set(request, id);
  events.push(['req', id, performance.now()]);
});
dc.subscribe('http.client.response.finish', ({ request, response }) => {
  const id = ids.get(request);
  events.push(['res', id, performance.now()]);
  response.once('end', () => events.push(['end', id, performance.now()]));
});
process.on('exit', () => {
  events.push(['exit', -1, performance.now()]);
  if (process.env.TIMELINE_FILE) writeFileSync(process.env.TIMELINE_FILE, JSON.stringify(events));
});
