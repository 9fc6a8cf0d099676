// Starts the web app. It lives in a file rather than in index.html so that the page's
// Content-Security-Policy can forbid inline scripts (`script-src 'self'`): trunk would
// otherwise write this as an inline module. trunk names this file by its content hash
// and puts the names of the wasm-bindgen glue and the wasm in the `chat-app` meta tag
// (`pattern_script` in Trunk.toml); the glue and the wasm are already being fetched by
// the preload links trunk adds.
const app = document.querySelector('meta[name="chat-app"]');
const { default: init } = await import(app.dataset.js);
await init({ module_or_path: app.dataset.wasm });
