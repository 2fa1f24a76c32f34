// A table wider than the screen scrolls sideways in a box of its own
// (.table-wrap). The page makes that box a tab stop (tabindex="0"), so
// that a keyboard reaches it and scrolls it with the arrow keys even when
// it holds no link. Where the table fits (a desktop's width) the box does
// not scroll, and a tab stop there would be a stop that does nothing: this
// script keeps the box a tab stop only while it scrolls, and checks again
// whenever the box or its table changes size (the window resized, a phone
// turned). A box with the focus stays a tab stop until it loses it.
// Without JavaScript every such box stays a tab stop, at any width.
(function () {
  "use strict";

  var boxes = document.querySelectorAll(".table-wrap[tabindex]");

  function fit(box) {
    if (box.scrollWidth > box.clientWidth) {
      box.setAttribute("tabindex", "0");
    } else if (document.activeElement !== box) {
      box.removeAttribute("tabindex");
    }
  }

  // Checked at once, before the page has finished loading, so that it is
  // never seen as a tab stop that does not scroll.
  for (var i = 0; i < boxes.length; i++) {
    fit(boxes[i]);
    boxes[i].addEventListener("blur", function (ev) {
      fit(ev.currentTarget);
    });
  }
  if (!window.ResizeObserver || boxes.length === 0) return;
  var watch = new ResizeObserver(function (entries) {
    for (var j = 0; j < entries.length; j++) {
      var box = entries[j].target.closest(".table-wrap");
      if (box) fit(box);
    }
  });
  for (var k = 0; k < boxes.length; k++) {
    watch.observe(boxes[k]);
    if (boxes[k].firstElementChild) watch.observe(boxes[k].firstElementChild);
  }
})();
