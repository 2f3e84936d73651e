// Helpers with no GPU: seeded noise for the GAN's latent vectors, and pixels made drawable.

const SIDE = 28;

// mulberry32: a small seeded generator of uniform numbers in [0, 1).
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` standard normal numbers drawn from `seed` (Box-Muller): the same seed, the same numbers. */
export function standardNormal(length, seed) {
  const rng = mulberry32(seed);
  // 1 - u keeps the logarithm away from 0.
  return Float32Array.from({ length }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

/** Images of 28 x 28 pixels in [0, 1], one after another, as grey ImageData for a canvas. */
export function toImageData(pixels, side = SIDE) {
  const size = side * side;
  return Array.from({ length: Math.floor(pixels.length / size) }, (_, n) => {
    const image = new ImageData(side, side);
    for (let i = 0; i < size; i++) {
      const v = Math.round(Math.min(1, Math.max(0, pixels[n * size + i])) * 255);
      image.data.set([v, v, v, 255], 4 * i);
    }
    return image;
  });
}

/** A random seed, for calls that were given none. */
export const randomSeed = () => Math.floor(Math.random() * 2 ** 32);
