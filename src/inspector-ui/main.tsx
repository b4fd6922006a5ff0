/** Entry point of the inspector page: connect to the engine's WebSocket and render. */
import { render } from 'preact';
import { App } from './app.js';
import { Store } from './store.js';

const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
const store = new Store(`${proto}//${location.host}/ws`);
store.connect();
const root = document.getElementById('app')!;
root.textContent = '';
render(<App store={store} />, root);
