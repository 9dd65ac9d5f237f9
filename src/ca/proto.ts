// The CA's wire contract. The .proto text is kept as a comment for reading; the loader gets the same
// schema as a protobufjs JSON descriptor, because `tsc` copies no .proto files into dist and writing temp
// files at startup is a failure mode we do not need. Field numbers follow Istio's security/v1alpha1
// ca.proto (csr = 1, validity_duration = 3, metadata = 4), so ztunnel-style clients interoperate.
//
//   package istio.v1.auth;
//   message IstioCertificateRequest { string csr = 1; int64 validity_duration = 3; google.protobuf.Struct metadata = 4; }
//   message IstioCertificateResponse { repeated string cert_chain = 1; }
//   service IstioCertificateService { rpc CreateCertificate(IstioCertificateRequest) returns (IstioCertificateResponse); }
//
//   package grpc.health.v1;
//   message HealthCheckRequest { string service = 1; }
//   message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }
//   service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
import * as grpc from '@grpc/grpc-js';
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';

export const CERT_SERVICE = 'istio.v1.auth.IstioCertificateService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
/** Metadata key naming the identity a node agent asks for on behalf of a workload (Istio's name). */
export const IMPERSONATED_IDENTITY = 'ImpersonatedIdentity';
/** The name the CA's serving certificate carries and node agents verify, whatever address they dial. */
export const CA_SERVER_NAME = 'nodemesh-ca';

const DESCRIPTOR = {
  nested: {
    istio: {
      nested: {
        v1: {
          nested: {
            auth: {
              nested: {
                IstioCertificateRequest: {
                  fields: {
                    csr: { type: 'string', id: 1 },
                    validity_duration: { type: 'int64', id: 3 },
                    metadata: { type: 'google.protobuf.Struct', id: 4 },
                  },
                },
                IstioCertificateResponse: { fields: { cert_chain: { rule: 'repeated', type: 'string', id: 1 } } },
                IstioCertificateService: {
                  methods: { CreateCertificate: { requestType: 'IstioCertificateRequest', responseType: 'IstioCertificateResponse' } },
                },
              },
            },
          },
        },
      },
    },
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                Health: { methods: { Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' } } },
              },
            },
          },
        },
      },
    },
    // google/protobuf/struct.proto, as far as the CA needs it.
    google: {
      nested: {
        protobuf: {
          nested: {
            Struct: { fields: { fields: { keyType: 'string', type: 'Value', id: 1 } } },
            Value: {
              oneofs: { kind: { oneof: ['null_value', 'number_value', 'string_value', 'bool_value', 'struct_value', 'list_value'] } },
              fields: {
                null_value: { type: 'NullValue', id: 1 },
                number_value: { type: 'double', id: 2 },
                string_value: { type: 'string', id: 3 },
                bool_value: { type: 'bool', id: 4 },
                struct_value: { type: 'Struct', id: 5 },
                list_value: { type: 'ListValue', id: 6 },
              },
            },
            NullValue: { values: { NULL_VALUE: 0 } },
            ListValue: { fields: { values: { rule: 'repeated', type: 'Value', id: 1 } } },
          },
        },
      },
    },
  },
};

/** Decoded google.protobuf.Struct (keepCase, oneofs): `{ fields: { key: { string_value: 'x', kind: 'string_value' } } }`. */
export interface StructMessage {
  fields?: Record<string, { string_value?: string; kind?: string } | undefined>;
}

export interface CertRequest {
  csr: string;
  /** Seconds; int64 decoded as a JS number (longs: Number). 0 = the CA's default. */
  validity_duration: number;
  metadata?: StructMessage | null;
}

export interface CertResponse {
  cert_chain: string[];
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

let cached: PackageDefinition | undefined;

function definition(): PackageDefinition {
  // keepCase: the wire names stay snake_case as in Istio's proto; longs as numbers (a TTL in seconds
  // is far below 2^53); defaults so an absent field reads as '' / 0 rather than undefined.
  // The cast: protobufjs's INamespace typings demand optional-in-practice keys (comment, IMapField).
  cached ??= fromJSON(DESCRIPTOR as unknown as Parameters<typeof fromJSON>[0], { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  return cached;
}

export function certServiceDefinition(): grpc.ServiceDefinition {
  return definition()[CERT_SERVICE] as grpc.ServiceDefinition;
}

export function healthServiceDefinition(): grpc.ServiceDefinition {
  return definition()[HEALTH_SERVICE] as grpc.ServiceDefinition;
}

export const CertClient: grpc.ServiceClientConstructor = grpc.makeClientConstructor(certServiceDefinition(), CERT_SERVICE);
export const HealthClient: grpc.ServiceClientConstructor = grpc.makeClientConstructor(healthServiceDefinition(), HEALTH_SERVICE);

/** A string field of a Struct; undefined when absent or not a string (the caller decides if that is an error). */
export function structString(s: StructMessage | null | undefined, key: string): string | undefined {
  const v = s?.fields?.[key];
  if (v === undefined || v === null) return undefined;
  return typeof v.string_value === 'string' && (v.kind === undefined || v.kind === 'string_value') ? v.string_value : undefined;
}

/** True when the Struct has the key at all (so "present but not a string" can be refused). */
export function structHas(s: StructMessage | null | undefined, key: string): boolean {
  return s?.fields?.[key] !== undefined && s.fields[key] !== null;
}

export function toStruct(values: Readonly<Record<string, string>>): StructMessage {
  const fields: NonNullable<StructMessage['fields']> = {};
  for (const [k, v] of Object.entries(values)) fields[k] = { string_value: v };
  return { fields };
}
