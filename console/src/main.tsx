// Entry point of the c360 front-office console.
import { render } from 'preact';
import './app.css';
import { App } from './app';

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
