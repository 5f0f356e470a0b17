// cephes ships index.d.ts, but its package.json `exports` has no "types" condition, so NodeNext
// resolution cannot find it. These are the functions clv-fit.ts uses, as that file declares them.
declare module 'cephes' {
  /** Resolves once the WebAssembly is compiled (at once in Node, where it compiles synchronously). */
  export const compiled: Promise<void>;
  /** Natural logarithm of |Γ(x)|. Throws where cephes reports a domain error or a pole. */
  export function lgam(x: number): number;
  /** Gauss hypergeometric function 2F1(a, b; c; x). Throws where cephes reports an overflow or a loss of precision. */
  export function hyp2f1(a: number, b: number, c: number, x: number): number;
}
