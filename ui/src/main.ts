// Hash router (#/runs, #/runs/<id>, #/compare?ids=a,b, #/models, #/server) and the admin token form.
import { api, token } from './api.ts';
import { focusHeadingsFromNowOn } from './dom.ts';
import { runsPage } from './pages/runs.ts';
import './style.css';

// The Runs page (the landing page) is in the main chunk; the others, and the chart library, load on first visit.

const main = document.getElementById('main') as HTMLElement;
let stopPage: (() => void) | null = null;

async function route(): Promise<void> {
  stopPage?.();
  stopPage = null;
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  const page = parts[0] ?? 'runs';
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (link.dataset.nav === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · bnserve`;
  if (page === 'runs' && parts[1]) return (await import('./pages/run.ts')).runPage(main, decodeURIComponent(parts[1]));
  if (page === 'compare') return (await import('./pages/compare.ts')).comparePage(main, params);
  if (page === 'models') return (await import('./pages/models.ts')).modelsPage(main, params);
  if (page === 'server') {
    stopPage = await (await import('./pages/server.ts')).serverPage(main);
    return;
  }
  return runsPage(main, params);
}

function tokenForm(): void {
  const form = document.getElementById('token-form') as HTMLFormElement;
  const input = document.getElementById('token-input') as HTMLInputElement;
  const status = document.getElementById('token-status') as HTMLElement;
  const forget = document.getElementById('token-forget') as HTMLButtonElement;
  const showState = () => {
    const has = token.get() !== null;
    status.textContent = has ? 'admin token set' : 'read-only';
    forget.hidden = !has;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    try {
      await api.checkToken(value);
      token.set(value);
      input.value = '';
      showState();
    } catch (error) {
      token.clear();
      showState();
      status.textContent = `token refused: ${(error as Error).message}`;
      status.classList.add('refused');
      return;
    }
    status.classList.remove('refused');
  });
  forget.addEventListener('click', () => {
    token.clear();
    showState();
  });
  showState();
}

tokenForm();
window.addEventListener('hashchange', () => {
  focusHeadingsFromNowOn();
  void route();
});
void route();
