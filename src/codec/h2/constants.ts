// HTTP/2 wire constants (RFC 9113 §6, §7, §11) shared by the frame codec and the connection state machine.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;

export const T = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const F = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes (RFC 9113 §7). */
export const E = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export const ERROR_NAMES: readonly string[] = Object.keys(E);

/** The name of an error code, or `0x..` for codes this side does not know (they must be tolerated). */
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const S = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const MIN_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 16_777_215;
export const MAX_WINDOW = 2 ** 31 - 1;
export const DEFAULT_WINDOW = 65_535;
export const MAX_STREAM_ID = 2 ** 31 - 1;

/** One endpoint's settings; unset values take the RFC defaults. */
export interface Settings {
  headerTableSize: number;
  enablePush: number;
  maxConcurrentStreams: number;
  initialWindowSize: number;
  maxFrameSize: number;
  maxHeaderListSize: number;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  headerTableSize: 4096,
  enablePush: 1,
  maxConcurrentStreams: Infinity,
  initialWindowSize: DEFAULT_WINDOW,
  maxFrameSize: MIN_MAX_FRAME_SIZE,
  maxHeaderListSize: Infinity,
});

/** Maps a SETTINGS identifier to its field; unknown identifiers are ignored (§6.5.2). */
export const SETTING_FIELDS: Readonly<Record<number, keyof Settings>> = Object.freeze({
  [S.HEADER_TABLE_SIZE]: 'headerTableSize',
  [S.ENABLE_PUSH]: 'enablePush',
  [S.MAX_CONCURRENT_STREAMS]: 'maxConcurrentStreams',
  [S.INITIAL_WINDOW_SIZE]: 'initialWindowSize',
  [S.MAX_FRAME_SIZE]: 'maxFrameSize',
  [S.MAX_HEADER_LIST_SIZE]: 'maxHeaderListSize',
});

/** A protocol error: connection-wide (GOAWAY) when stream is 0, else a stream error (RST_STREAM). */
export interface H2Error {
  readonly code: number;
  readonly stream: number;
  readonly reason: string;
}

export const connError = (code: number, reason: string): H2Error => ({ code, stream: 0, reason });
export const streamError = (stream: number, code: number, reason: string): H2Error => ({ code, stream, reason });
