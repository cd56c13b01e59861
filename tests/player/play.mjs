// Plays streams in headless Chromium, each with the player made for it, and prints one
// JSON line per stream. Exits non-zero if any did not play to its end without errors.
//
//   node play.mjs <kind> <url> [<kind> <url> ...]      kind: hls, dash or file
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const files = {
  "/page.html": path.join(here, "page.html"),
  "/hls.min.js": path.join(here, "node_modules/hls.js/dist/hls.min.js"),
  "/dash.all.min.js": path.join(here, "node_modules/dashjs/dist/modern/umd/dash.all.min.js"),
};
const RATE = Number(process.env.PLAYBACK_RATE || 1);
const TIMEOUT_MS = 60_000;

const server = http.createServer((request, response) => {
  const file = files[new URL(request.url, "http://page").pathname];
  if (!file) {
    // The browser's own requests (the icon) are not failures of the stream.
    response.writeHead(404).end();
    return;
  }
  const type = file.endsWith(".html") ? "text/html" : "text/javascript";
  response.writeHead(200, { "content-type": type });
  fs.createReadStream(file).pipe(response);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const streams = process.argv.slice(2);
let failed = false;
try {
  for (let i = 0; i + 1 < streams.length; i += 2) {
    const [kind, src] = [streams[i], streams[i + 1]];
    const page = await browser.newPage();
    const logs = [];
    const failedRequests = [];
    page.on("console", (message) => logs.push(message.text()));
    page.on("requestfailed", (request) => logs.push("request failed: " + request.url()));
    page.on("response", (response) => {
      if (response.status() >= 400 && !response.url().startsWith(origin)) {
        logs.push(`HTTP ${response.status()} for ${response.url()}`);
        failedRequests.push(response.url());
      }
    });
    page.on("pageerror", (error) => logs.push("page error: " + error.message));
    const query = new URLSearchParams({ kind, src, rate: String(RATE) });
    await page.goto(`${origin}/page.html?${query}`);
    let outcome;
    try {
      await page.waitForFunction(() => window.outcome, null, { timeout: TIMEOUT_MS });
      outcome = await page.evaluate(() => window.outcome);
    } catch (e) {
      outcome = await page.evaluate(() => {
        const video = document.getElementById("video");
        return { ended: false, errors: ["timed out"], currentTime: video.currentTime, duration: video.duration };
      });
    }
    const ok =
      outcome.ended &&
      outcome.errors.length === 0 &&
      failedRequests.length === 0 &&
      outcome.frames > 0 &&
      Math.abs(outcome.currentTime - outcome.duration) < 0.25;
    failed ||= !ok;
    console.log(JSON.stringify({ kind, src, ok, ...outcome, logs }));
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
