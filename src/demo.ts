/** The demo page served at `GET /` in relay mode: self-contained HTML, no external assets. */
export const demoPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>rxws demo</title></head><body><h1>rxws demo</h1><p>Placeholder.</p></body></html>
`;
