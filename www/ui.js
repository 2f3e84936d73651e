// Small pieces the text tabs share: messages, numbers from inputs, and drawing at most once per
// animation frame however often a model step asks.

export const plural = (n, word) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;

// Shows `text` in `el`, or hides it when empty.
export function showMessage(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

// A number from an input; an empty field is an error that names it. The model checks the
// ranges (and that counts are whole) itself.
export function inputNumber(el, name) {
  const value = el.valueAsNumber;
  if (Number.isNaN(value)) throw new Error(`The ${name} is not a number.`);
  return value;
}

// `request()` draws on the next animation frame, once however often it is called before;
// `now()` draws at once, dropping a pending frame.
export function frameRenderer(render) {
  let frame = 0;
  return {
    request() {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        render();
      });
    },
    now() {
      cancelAnimationFrame(frame);
      frame = 0;
      render();
    },
  };
}
