/** The extra component of every suite that lists a snapshot's proof package (DESIGN.md "Proof packages"). */
export const proofComponent = 'aptfreeze-proof';
