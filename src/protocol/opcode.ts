/** Frame opcodes (RFC 6455 §5.2). 3–7 and 11–15 are reserved. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

export const isControlOpcode = (opcode: number): boolean => (opcode & 0x8) !== 0;
