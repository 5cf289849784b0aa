// Puppeteer must never download a browser here: tests use the system Chromium
// (see test/support/chromium.ts for how it is found).
module.exports = { skipDownload: true };
