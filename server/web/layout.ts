import { html, raw, type Raw } from './html.ts';

/** Plain CSS: system fonts, contrast above 7:1 for text, tables that scroll on a phone. */
const css = `
:root{color-scheme:light;--fg:#111;--muted:#444;--bg:#fff;--line:#ccc;--accent:#0b4f9c;--live:#0a5c2b;--frozen:#0b4f9c;--expired:#7a4b00;--collected:#555}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline;border-bottom:1px solid var(--line);padding-top:.75rem;padding-bottom:.5rem}
header .brand{font-weight:700;font-size:1.25rem;color:var(--fg);text-decoration:none}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
a{color:var(--accent)}
a:focus,button:focus,input:focus{outline:3px solid #f2b01e;outline-offset:2px}
h1{font-size:1.6rem;margin:1rem 0 .5rem}
h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
.muted{color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
code.hash{word-break:break-all}
pre{background:#f4f4f4;border:1px solid var(--line);padding:.75rem;overflow-x:auto}
.state{display:inline-block;padding:0 .4rem;border-radius:.25rem;color:#fff;font-size:.85rem;font-weight:600}
.state-live{background:var(--live)}.state-frozen{background:var(--frozen)}.state-expired{background:var(--expired)}.state-collected,.state-failed{background:var(--collected)}
form.search{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end}
form.search div{display:flex;flex-direction:column}
input{font:inherit;padding:.35rem .5rem;border:1px solid #767676;border-radius:.25rem;min-width:12rem}
button{font:inherit;padding:.4rem 1rem;border:0;border-radius:.25rem;background:var(--accent);color:#fff;cursor:pointer}
.chart{width:100%;max-width:40rem;height:auto}
.chart .axis{stroke:#767676}.chart .bar{fill:#7a4b00;opacity:.8}.chart .line{fill:none;stroke:var(--accent);stroke-width:2}.chart .dot{fill:var(--accent)}
.chart .tick,.chart .legend{font-size:12px;fill:var(--muted)}.chart .pool-text{fill:var(--accent)}.chart .changed-text{fill:#7a4b00}
ul.timeline{list-style:none;padding:0;margin:0}
ul.timeline li{border-left:3px solid var(--line);padding:.25rem 0 .75rem 1rem;position:relative}
ul.timeline li::before{content:"";position:absolute;left:-.45rem;top:.6rem;width:.6rem;height:.6rem;border-radius:50%;background:var(--accent)}
@media (max-width:40rem){table.stack thead{position:absolute;left:-9999px}table.stack tr{display:block;border-bottom:1px solid var(--line);padding:.35rem 0}table.stack th,table.stack td{display:block;border:0;padding:.1rem .25rem}table.stack td[data-label]::before{content:attr(data-label) ": ";font-weight:600}table.stack caption{text-align:left}}
footer{border-top:1px solid var(--line);margin-top:2rem;padding-top:.5rem;padding-bottom:1rem;color:var(--muted);font-size:.9rem}
`;

/** The page frame: one h1 per page, a skip link, the same navigation everywhere. */
export function page(title: string, body: Raw): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · aptfreeze</title>
<link rel="icon" href="data:,">
<style>${raw(css)}</style>
</head>
<body>
<header>
<a class="brand" href="/">aptfreeze</a>
<nav aria-label="Main"><ul>
<li><a href="/">Archives</a></li>
<li><a href="/web/search">Package search</a></li>
<li><a href="/web/audit">Audit log</a></li>
<li><a href="/metrics">Metrics</a></li>
<li><a href="/mr/package/">snapshot API</a></li>
</ul></nav>
</header>
<main id="main">
${body}
</main>
<footer>Freezable APT snapshots. Service key: <a href="/keys/aptfreeze.asc">aptfreeze.asc</a> · <a href="/keys/aptfreeze.gpg">aptfreeze.gpg</a></footer>
</body>
</html>
`.html;
}
