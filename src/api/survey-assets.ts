/**
 * The survey page's only styles and script (served from its own path under its CSP: 'self' only, no
 * inline code). Mobile first; the text and controls contrast at 4.5:1 or more; focus always visible;
 * sizes in rem so that 200 % zoom reflows. The script only shows and hides items by their enableWhen
 * (the server checks again); the page works without it.
 */
export const SURVEY_CSS = `
*,*::before,*::after{box-sizing:border-box}
html{font-size:100%;-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:1.125rem;line-height:1.5;color:#1a1a1a;background:#fff}
main{max-width:40rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.25rem;margin:0 0 .5rem}
a{color:#0b4fa8}
a:focus,button:focus,input:focus,textarea:focus{outline:3px solid #b45309;outline-offset:2px}
.lang{text-align:right;margin:0}
.display{font-weight:600}
fieldset{border:0;margin:0;padding:0;min-width:0}
.group{border-left:4px solid #d0d7e2;padding-left:.75rem;margin:1.5rem 0}
.group>legend{font-weight:700;font-size:1.2rem;margin-bottom:.5rem}
.question{margin:1.5rem 0}
.question>legend,.question>label{display:block;font-weight:600;margin-bottom:.5rem}
.req{font-weight:400;color:#4a4a4a}
.option{position:relative;margin:.4rem 0}
.option input{position:absolute;left:.75rem;top:50%;transform:translateY(-50%);width:1.4rem;height:1.4rem;margin:0}
.option label{display:block;padding:.75rem .75rem .75rem 2.75rem;border:2px solid #8a94a6;border-radius:.5rem;min-height:3rem;cursor:pointer}
.option input:checked+label{border-color:#0b4fa8;background:#e8f0fc}
.option input:focus+label{outline:3px solid #b45309;outline-offset:2px}
input[type=text],input[type=date],textarea{display:block;width:100%;font:inherit;padding:.6rem;border:2px solid #5c6778;border-radius:.4rem;min-height:3rem;background:#fff;color:#1a1a1a}
button{font:inherit;font-weight:700;color:#fff;background:#0b4fa8;border:0;border-radius:.5rem;padding:.85rem 1.5rem;min-height:3rem;width:100%;margin-top:1rem;cursor:pointer}
.error{color:#a4141a;font-weight:600;margin:.25rem 0 .5rem}
[aria-invalid=true]{border-color:#a4141a}
.problems{border:3px solid #a4141a;padding:1rem;margin:1rem 0}
.problems ul{margin:0;padding-left:1.25rem}
.small{font-size:1rem;color:#3d3d3d;margin-top:2rem}
.hint{color:#3d3d3d;margin:0 0 .5rem}
.crisis{border:4px solid #a4141a;border-radius:.5rem;padding:1rem;margin:0 0 1.5rem;background:#fff7f7}
.crisis h1{color:#7d0e12}
.resources{list-style:none;padding:0;margin:0}
.resources li{margin:1rem 0}
.action{display:inline-block;font-weight:700;color:#fff;background:#a4141a;text-decoration:none;border-radius:.5rem;padding:.7rem 1.2rem;margin:.25rem .25rem 0 0;min-height:3rem}
.action.secondary{background:#0b4fa8}
.visually-hidden{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
[hidden]{display:none!important}
`;

export const SURVEY_JS = `
(function () {
  'use strict';
  var form = document.querySelector('form');
  if (!form) return;
  var problems = document.getElementById('problems');
  if (problems) problems.focus();
  function valueOf(name) {
    var fields = form.querySelectorAll('[name="' + name.replace(/"/g, '\\\\"') + '"]');
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.disabled) continue;
      if (f.type === 'radio') { if (f.checked) return f.value; } else if (f.value !== '') return f.value;
    }
    return undefined;
  }
  function test(c) {
    var got = valueOf(c.f);
    if (c.op === 'exists') return (got !== undefined) === (c.v[0] !== false);
    if (got === undefined) return c.op === '!=';
    var hit = c.v.some(function (v) {
      if (typeof v === 'number') { var n = Number(got.replace(',', '.'));
        return c.op === '>' ? n > v : c.op === '<' ? n < v : c.op === '>=' ? n >= v : c.op === '<=' ? n <= v : n === v; }
      return String(v) === got;
    });
    return c.op === '!=' ? !hit : hit;
  }
  function update() {
    var items = form.querySelectorAll('[data-enable-when]');
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var conditions = JSON.parse(el.getAttribute('data-enable-when'));
      var any = el.getAttribute('data-enable-behavior') === 'any';
      var on = any ? conditions.some(test) : conditions.every(test);
      el.hidden = !on;
      var inputs = el.querySelectorAll('input,textarea');
      for (var j = 0; j < inputs.length; j++) inputs[j].disabled = !on;
    }
  }
  form.addEventListener('change', update);
  form.addEventListener('input', update);
  update();
})();
`;
