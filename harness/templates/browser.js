(function(){
  var data = JSON.parse(document.getElementById('browser-data').textContent);
  var a = document.getElementById('row-a'), b = document.getElementById('row-b'), mode = document.getElementById('mode');
  var out = document.getElementById('browser-items'), count = document.getElementById('browser-count');
  data.rows.forEach(function(name, i){
    [a, b].forEach(function(sel, k){ var o = document.createElement('option'); o.value = name; o.textContent = name;
      if ((k === 0 && i === 0) || (k === 1 && i === 1)) o.selected = true; sel.appendChild(o); });
  });
  function wrong(item, row){ var r = item.r[row]; return r !== undefined && r[0] !== item.gold; }
  function right(item, row){ var r = item.r[row]; return r !== undefined && r[0] === item.gold; }
  function keep(item){
    var m = mode.value;
    if (m === 'a-wrong-b-right') return wrong(item, a.value) && right(item, b.value);
    if (m === 'a-right-b-wrong') return right(item, a.value) && wrong(item, b.value);
    if (m === 'both-wrong') return wrong(item, a.value) && wrong(item, b.value);
    if (m === 'a-wrong') return wrong(item, a.value);
    return true;
  }
  function el(tag, cls, text){ var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function render(){
    out.textContent = '';
    var shown = data.items.filter(keep);
    count.textContent = shown.length + ' of ' + data.items.length + ' items that some row got wrong';
    shown.slice(0, 300).forEach(function(item){
      var box = el('div', 'item');
      box.appendChild(el('div', 'text', item.text));
      box.appendChild(el('div', 'meta', item.id + ' · gold: ' + item.gold));
      var t = el('table'); var h = el('tr'); ['row', 'parsed', 'raw reply'].forEach(function(c){ h.appendChild(el('th', '', c)); }); t.appendChild(h);
      data.rows.forEach(function(row){
        var r = item.r[row]; if (r === undefined) return;
        var tr = el('tr'); tr.appendChild(el('td', '', row));
        tr.appendChild(el('td', r[0] === item.gold ? 'ok' : 'bad', r[0] === null ? '(parse failure)' : r[0]));
        var td = el('td'); td.appendChild(el('pre', '', r[1])); tr.appendChild(td); t.appendChild(tr);
      });
      box.appendChild(t); out.appendChild(box);
    });
  }
  [a, b, mode].forEach(function(s){ s.addEventListener('change', render); });
  render();
})();
