// Chunked transfer coding lives with the codecs; re-exported for the HTTP/1 proxy's modules.
export { chunkHeader, ChunkedFramer, LAST_CHUNK, type DataSink } from '../codec/h1chunked';
