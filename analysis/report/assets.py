"""The report's stylesheet and script, inlined so the file opens from disk with no network.

The script is deliberately small vanilla JS: clicking an operation shows its details and
the trace records around it (from JSON embedded in the page), and the message diagram
zooms by rewriting its SVG ``viewBox``.  Everything else is static SVG, so the report
still reads correctly with scripts disabled.
"""

from __future__ import annotations

CSS = r"""
:root{--ok:#3f8f5f;--fail:#d9822b;--info:#8b8fa6;--blocker:#d62839;--concurrent:#7b3fbf;--preceding:#1f6fd1;
--ink:#1d2330;--muted:#667085;--line:#e3e6ee;--bg:#f7f8fb;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1300px;margin:0 auto;padding:0 20px 80px}
header{background:var(--card);border-bottom:1px solid var(--line);padding:18px 24px 14px;margin:0 -20px 0}
h1{font-size:24px;margin:0 0 2px;font-family:ui-monospace,Menlo,Consolas,monospace}
h2{font-size:18px;margin:28px 0 6px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:15px;margin:4px 0 6px}
p{margin:6px 0}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
code{background:#eef0f5;padding:1px 4px;border-radius:3px}
pre{background:#f1f3f8;padding:10px;overflow:auto;max-height:420px;border-radius:4px}
.summary{font-size:15px;color:#344054;margin:0 0 8px}
.metas{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0}
.meta{border:1px solid var(--line);border-radius:12px;padding:1px 9px;background:#fafbfd;font-size:12.5px}
.meta span{color:var(--muted)}
.badges{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}
.badge{display:inline-flex;align-items:center;border-radius:5px;overflow:hidden;font-size:12.5px;border:1px solid}
.badge .badge-name{padding:2px 8px;background:#fff;color:var(--ink)}
.badge b{padding:2px 8px;color:#fff;letter-spacing:.04em}
.badge.valid{border-color:var(--ok)}.badge.valid b{background:var(--ok)}
.badge.invalid{border-color:var(--blocker)}.badge.invalid b{background:var(--blocker)}
.badge.unknown{border-color:#b7791f}.badge.unknown b{background:#b7791f}
.explain{max-width:1050px}
.explain p{margin:6px 0}.explain .context{color:#344054;font-size:13px}
.teaches{font-size:13px;color:#344054}
.replay{margin:10px 0 4px}.replay code{font-size:13px;padding:3px 8px}
button{font:inherit;font-size:12px;border:1px solid #c9cedb;background:#fff;border-radius:4px;padding:2px 9px;cursor:pointer}
button:hover{background:#eef0f5}
.size-note{font-size:12.5px;color:var(--muted)}
.muted{color:var(--muted);fill:var(--muted)}
nav{position:sticky;top:0;z-index:5;background:rgba(247,248,251,.95);border-bottom:1px solid var(--line);
padding:6px 0;margin:0 -20px;padding-left:24px;font-size:13px}
nav a{margin-right:16px;color:#2b6cb0;text-decoration:none}
.figure{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px;overflow-x:auto}
.figure svg{display:block;max-width:100%;height:auto}
.note{font-size:12.5px;color:var(--muted);margin:4px 0 8px}
.with-story{display:grid;grid-template-columns:minmax(0,3fr) minmax(280px,2fr);gap:12px;align-items:start}
@media (max-width:1000px){.with-story{grid-template-columns:minmax(0,1fr)}}
.story{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 10px;font-size:13px}
.story h3{margin:2px 0 6px;font-size:14px}
.story ol{list-style:none;margin:0;padding:0}
.story li{display:grid;grid-template-columns:auto auto minmax(0,1fr);gap:8px;padding:3px 4px;border-bottom:1px solid var(--line)}
.story li[data-op]{cursor:pointer}
.story .when{color:#667085;font-variant-numeric:tabular-nums;white-space:nowrap}
.story .who{font-weight:600;white-space:nowrap}
.story .story-fault,.story .story-fault-end{background:rgba(229,62,62,.08)}
.story .story-violation{background:rgba(229,62,62,.18);font-weight:600}
.story .story-leader .who{color:#2b6cb0}
.story .st-failed .note,.story .st-unknown .note,.story .st-never .note{color:var(--fail)}
.story li.hl-blocker{outline:2px solid var(--blocker);outline-offset:-2px}
.story li.selected{background:#fff7d6}
.legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;color:#344054;margin:6px 0}
.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:-1px;border-radius:2px}
.chip b{font-family:ui-monospace,Menlo,monospace}
svg text{font-size:11px;fill:#344054}
.axis line{stroke:#edf0f5;stroke-width:1}.axis text{fill:#98a2b3;font-size:10px;text-anchor:middle}
.axis .ylab{text-anchor:end;dominant-baseline:middle}
.lane-label{text-anchor:end;font-family:ui-monospace,Menlo,monospace;font-size:10.5px}
.lane-line{stroke:#e3e6ee}.lane-bg{fill:#f6f7fa}
.fault-band rect,.fault-band-rect{fill:#e53e3e;fill-opacity:.08;stroke:#e53e3e;stroke-opacity:.35;stroke-dasharray:3 3}
.fault-band text{fill:#9b2c2c;font-size:10.5px;font-weight:600}
.role.leader text{fill:#fff;font-size:9.5px;font-weight:700}
.role.candidate{fill:#ecc94b}
.outage rect{fill:url(#hatch-down);stroke:#c53030;stroke-width:.8}.outage.pause rect{fill:#cbd5e0;stroke:#4a5568}
.outage text{font-size:10px;fill:#9b2c2c;font-weight:700}
.op{cursor:pointer}.op rect{stroke:rgba(0,0,0,.12);stroke-width:.5}
.op:hover rect{stroke:#000;stroke-width:1}
.op.dim{opacity:.28}
.info-tail{stroke:var(--info);stroke-width:1.5;stroke-dasharray:2 3}
.op.hl-blocker rect{stroke:var(--blocker);stroke-width:2.5}
.op.hl-concurrent rect{stroke:var(--concurrent);stroke-width:2}
.op.hl-preceding rect{stroke:var(--preceding);stroke-width:2}
.op.hl-cycle rect{stroke:var(--blocker);stroke-width:2.5}
.op.selected rect{stroke:#000;stroke-width:2.5}
.op-label{font-size:10.5px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}
.op-label.hl-blocker{fill:var(--blocker)}.op-label.hl-concurrent{fill:var(--concurrent)}.op-label.hl-preceding{fill:var(--preceding)}
.letter circle{fill:#fff;stroke-width:1.5}.letter text{font-size:9px;font-weight:700;text-anchor:middle}
.letter.hl-blocker circle{stroke:var(--blocker)}.letter.hl-blocker text{fill:var(--blocker)}
.letter.hl-concurrent circle{stroke:var(--concurrent)}.letter.hl-concurrent text{fill:var(--concurrent)}
.letter.hl-preceding circle{stroke:var(--preceding)}.letter.hl-preceding text{fill:var(--preceding)}
.letter.hl-cycle circle{stroke:var(--blocker)}.letter.hl-cycle text{fill:var(--blocker)}.op-label.hl-cycle{fill:var(--blocker)}
.isolation-cycle .txn{cursor:pointer}.isolation-cycle .txn:hover rect,.isolation-cycle .txn.selected rect{stroke:#000;stroke-width:3}
.edge-tag{font-size:11px;font-weight:700;padding:0 5px;border-radius:3px;color:#fff}
.cycle-story li{margin:2px 0}
.letter-cell{font-weight:700;text-align:center}
.op-text{font-size:9.5px;fill:#fff;pointer-events:none}
.marker line{stroke:var(--blocker);stroke-width:1.5;stroke-dasharray:5 3}.marker text{fill:var(--blocker);font-weight:700;font-size:10.5px}
.divergence line{stroke:#0b7285;stroke-width:2.5}.divergence text{fill:#0b7285;font-weight:700;font-size:11px}
.prediction{margin:10px 0;padding:8px 12px;border:1px solid var(--line);border-radius:6px;background:#f8fafc;font-size:13px}
.prediction .grade{font-weight:700;padding:1px 8px;border-radius:10px;color:#fff}
.prediction .grade.right{background:var(--ok)}.prediction .grade.wrong{background:var(--blocker)}
.prediction .grade.ungraded{background:var(--info)}
.diffbox{border-left:4px solid #0b7285;padding:4px 12px;margin:8px 0;background:#f3fbfc}
.diffbox table{border-collapse:collapse;font-size:13px}.diffbox td,.diffbox th{padding:3px 8px;vertical-align:top;text-align:left}
.bracket rect{fill:none;stroke:#2b6cb0;stroke-width:1.5;stroke-dasharray:6 3}.bracket text{fill:#2b6cb0;font-weight:600}
.lat{fill:none;stroke-width:1.6}.lat.p50{stroke:#2b6cb0}.lat.p99{stroke:#d9822b}.lat.max{stroke:#c53030;stroke-opacity:.5}
tspan.p50{fill:#2b6cb0}tspan.p99{fill:#d9822b}tspan.max{fill:#c53030}
.pt.clipped{stroke:#000;stroke-width:.5}
.avail .row-label{text-anchor:end;font-size:12px}.avail .row-value{font-size:12px;font-weight:600}
.msgs .lifeline line{stroke:#a0aec0;stroke-width:1}.msgs .lifeline.node line{stroke:#4a5568;stroke-width:1.4}
.msgs .lifeline text{text-anchor:middle;font-weight:700;font-family:ui-monospace,Menlo,monospace}
.msgs .msg line{stroke-width:1.1}.msgs .msg text{font-size:9px;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:2.5px}
.msgs .msg:hover line{stroke-width:2.5}
.msgs .drop line{stroke-dasharray:3 2}.msgs .drop .x{fill:#c53030;font-size:13px;font-weight:700;text-anchor:middle}
.msgs .state-mark text{fill:#fff;font-size:9px;font-weight:700;text-anchor:middle}
.msgs .life-event{font-size:10px;font-weight:700;fill:#9b2c2c}
.msgs .fault-band text{font-size:10.5px}
.msgs .gap line{stroke:#a0aec0;stroke-dasharray:1 4}.msgs .gap text{font-size:9.5px;fill:#a0aec0;text-anchor:end}
.zoom-box{position:relative}
.zoom-box svg{cursor:grab}.zoom-box.dragging svg{cursor:grabbing}
.zoom-tools{display:flex;gap:6px;align-items:center;margin:4px 0 6px;font-size:12px;color:var(--muted)}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0;background:#fff}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f5f9;font-weight:600}
.facts th{width:180px}
tr.op-row{cursor:pointer}tr.op-row:hover{background:#f4f7ff}
.role-tag{font-size:11px;font-weight:700;padding:0 5px;border-radius:3px;color:#fff}
.role-tag.blocker{background:var(--blocker)}.role-tag.concurrent{background:var(--concurrent)}.role-tag.preceding{background:var(--preceding)}
tr.violation td:first-child{color:var(--blocker)}
tr.quiet,li.quiet{color:#9b2c2c}
.strip{display:flex;flex-wrap:wrap;gap:4px;align-items:stretch;margin:8px 0}
.cell{border:1px solid var(--line);border-left:4px solid var(--ok);background:#fff;border-radius:3px;padding:2px 6px;
font-size:11.5px;font-family:ui-monospace,Menlo,monospace;cursor:pointer;display:flex;flex-direction:column;min-width:78px}
.cell.fail{border-left-color:var(--fail)}.cell.info{border-left-color:var(--info)}
.cell .n{font-size:9.5px;color:var(--muted)}.cell .p{font-size:9.5px;color:var(--muted)}
.cell.skipped{border-left-color:#cbd5e0;color:var(--muted);justify-content:center;cursor:default}
.cell.blocker{border:2px solid var(--blocker);background:#fff5f5;color:var(--blocker);font-weight:700}
.cell.selected{outline:2px solid #000}
.arrow-x{color:var(--blocker);font-weight:700;font-size:18px;align-self:center;padding:0 2px}
.checker-card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 14px;margin:10px 0}
.checker-card ul{margin:4px 0;padding-left:20px}
#op-details{position:fixed;right:16px;bottom:16px;width:560px;max-width:calc(100vw - 32px);max-height:60vh;
overflow:auto;background:#fff;border:1px solid #c9cedb;border-radius:8px;box-shadow:0 8px 28px rgba(16,24,40,.18);
padding:10px 14px;z-index:10;font-size:12.5px}
#op-details[hidden]{display:none}
#op-details h3{margin:0 0 4px;font-size:14px}
#op-details table{width:100%}
#op-details .close{position:absolute;right:10px;top:8px}
#op-details tr.mine{background:#fff8e6}
.hint{font-size:12.5px;color:var(--muted)}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""

JS = r"""
(function(){
'use strict';
function data(id){var el=document.getElementById(id);if(!el)return null;try{return JSON.parse(el.textContent);}catch(e){return null;}}
var OPS=data('ops-data')||{};var TRACE=data('trace-data')||{range:null,recs:[]};var CLIENTS=data('clients-data')||{};
var panel=document.getElementById('op-details');
function txt(s){return String(s===null||s===undefined?'':s).replace(/[&<>"']/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function ms(v){return (v===null||v===undefined)?'never':(Math.round(v*10)/10).toLocaleString()+' ms';}
function show(id){
  var o=OPS[id];if(!panel)return;
  document.querySelectorAll('.selected').forEach(function(e){e.classList.remove('selected');});
  document.querySelectorAll('[data-op="'+id+'"],[data-op-id="'+id+'"]').forEach(function(e){e.classList.add('selected');});
  var h='<button type="button" class="close" aria-label="close">×</button>';
  if(!o){h+='<h3>op '+txt(id)+'</h3><p>Not drawn in this report (it is summarised).</p>';panel.innerHTML=h;panel.hidden=false;return;}
  h+='<h3>op '+txt(id)+' · process '+txt(o.p)+'</h3><table><tbody>'+
    '<tr><th>operation</th><td>'+txt(o.d)+'</td></tr>'+
    '<tr><th>function</th><td>'+txt(o.f)+(o.k!==null?' on key '+txt(o.k):'')+'</td></tr>'+
    '<tr><th>input</th><td><code>'+txt(JSON.stringify(o.v))+'</code></td></tr>'+
    '<tr><th>output</th><td><code>'+txt(o.s==='ok'?JSON.stringify(o.o):'—')+'</code></td></tr>'+
    '<tr><th>outcome</th><td>'+txt(o.s==='info'?'unknown (may take effect at any time after the invocation)':o.s)+'</td></tr>'+
    '<tr><th>invoked</th><td>'+ms(o.a)+'</td></tr><tr><th>completed</th><td>'+ms(o.b)+
    (o.b!==null?' (latency '+ms(o.b-o.a)+')':'')+'</td></tr>'+(o.r?'<tr><th>counterexample</th><td><b>'+txt(o.r)+'</b></td></tr>':'')+
    '</tbody></table>';
  var lo=o.a-20,hi=(o.b===null?o.a+200:o.b)+20;var client=CLIENTS[String(o.p)]||('c'+o.p);
  var R=TRACE.range,RS=TRACE.ranges||[];
  var covered=RS.some(function(x){return lo<=x[1]&&hi>=x[0];});
  if(!covered){h+='<p class="hint">The trace around this operation is not embedded in the report (it keeps '+
     (R?'records between '+ms(R[0])+' and '+ms(R[1]):'no trace records')+'); see trace.jsonl.</p>';}
  else{
    var rows=[],mine=0;
    for(var i=0;i<TRACE.recs.length;i++){var r=TRACE.recs[i];if(r[0]<lo||r[0]>hi)continue;
      var m=(r[2].indexOf(client)>=0)||(r[3].indexOf(client)>=0);if(m)mine++;rows.push([r,m]);}
    var shown=rows.filter(function(x){return x[1];}).concat(rows.filter(function(x){return !x[1];})).slice(0,80);
    shown.sort(function(a,b){return a[0][0]-b[0][0];});
    h+='<p class="hint">Trace records from '+ms(lo)+' to '+ms(hi)+': '+rows.length+' in all, '+mine+' involving '+txt(client)+
       ' (highlighted)'+(rows.length>shown.length?'; showing '+shown.length:'')+'.</p>';
    h+='<table><thead><tr><th>t</th><th>kind</th><th>who</th><th>what</th></tr></thead><tbody>';
    shown.forEach(function(x){var r=x[0];h+='<tr'+(x[1]?' class="mine"':'')+'><td>'+ms(r[0])+'</td><td>'+txt(r[1])+'</td><td>'+txt(r[2])+'</td><td>'+txt(r[3])+'</td></tr>';});
    h+='</tbody></table>';
  }
  panel.innerHTML=h;panel.hidden=false;
}
document.addEventListener('click',function(e){
  var t=e.target;if(!(t instanceof Element))return;
  if(t.closest('#op-details .close')){panel.hidden=true;return;}
  var c=t.closest('button.copy');
  if(c){var src=document.getElementById(c.getAttribute('data-copy'));
    if(src&&navigator.clipboard){navigator.clipboard.writeText(src.textContent).then(function(){c.textContent='copied';},function(){});}return;}
  var el=t.closest('[data-op],[data-op-id]');
  if(el&&!el.closest('.zoom-box.moved'))show(el.getAttribute('data-op')||el.getAttribute('data-op-id'));
});
document.addEventListener('keydown',function(e){if(e.key==='Escape'&&panel)panel.hidden=true;});
function fromHash(){var m=/^#(?:ov-)?op-(\d+)$/.exec(location.hash);if(m)show(m[1]);}
window.addEventListener('hashchange',fromHash);fromHash();
document.querySelectorAll('.zoom-box').forEach(function(box){
  var svg=box.querySelector('svg.zoomable');if(!svg)return;
  var W=+svg.getAttribute('data-w'),H=+svg.getAttribute('data-h');var vb={x:0,y:0,w:W,h:H};
  function apply(){svg.setAttribute('viewBox',vb.x+' '+vb.y+' '+vb.w+' '+vb.h);}
  function clamp(){vb.x=Math.max(0,Math.min(vb.x,W-vb.w));vb.y=Math.max(0,Math.min(vb.y,H-vb.h));}
  function zoom(f,cx,cy){var nw=Math.max(W/30,Math.min(W,vb.w*f));var k=nw/vb.w;
    if(cx===undefined){cx=vb.x+vb.w/2;cy=vb.y+vb.h/2;}
    vb.x=cx-(cx-vb.x)*k;vb.y=cy-(cy-vb.y)*k;vb.w=nw;vb.h=vb.h*k;clamp();apply();}
  function pt(e){var r=svg.getBoundingClientRect();return {x:vb.x+(e.clientX-r.left)*vb.w/r.width,y:vb.y+(e.clientY-r.top)*vb.h/r.height};}
  box.querySelectorAll('[data-zoom]').forEach(function(b){b.addEventListener('click',function(){
    var z=b.getAttribute('data-zoom');if(z==='in')zoom(0.6);else if(z==='out')zoom(1/0.6);else{vb={x:0,y:0,w:W,h:H};apply();}});});
  svg.addEventListener('wheel',function(e){if(!(e.ctrlKey||e.metaKey||e.altKey))return;e.preventDefault();
    var p=pt(e);zoom(e.deltaY>0?1.15:1/1.15,p.x,p.y);},{passive:false});
  var drag=null;
  svg.addEventListener('mousedown',function(e){drag={x:e.clientX,y:e.clientY,vx:vb.x,vy:vb.y,moved:false};box.classList.add('dragging');box.classList.remove('moved');});
  window.addEventListener('mousemove',function(e){if(!drag)return;var r=svg.getBoundingClientRect();
    var dx=(e.clientX-drag.x)*vb.w/r.width,dy=(e.clientY-drag.y)*vb.h/r.height;
    if(Math.abs(e.clientX-drag.x)+Math.abs(e.clientY-drag.y)>4){drag.moved=true;box.classList.add('moved');}
    vb.x=drag.vx-dx;vb.y=drag.vy-dy;clamp();apply();});
  window.addEventListener('mouseup',function(){if(drag){box.classList.remove('dragging');
    var moved=drag.moved;drag=null;if(moved)setTimeout(function(){box.classList.remove('moved');},0);}});
});
})();
"""
