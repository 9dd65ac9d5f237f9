/*
 * Every map nodemesh uses, pinned by name under the agent's bpffs directory (LIBBPF_PIN_BY_NAME), so
 * that each hook's object shares them and a restarted agent re-adopts them with their contents.
 *
 * The chain for a proxied connection (as in Merbridge):
 *   connect4: nm_services (VIP:port) → rewrite to the agent; remember nm_cookie_dst[cookie]
 *   sockops:  ACTIVE_ESTABLISHED → nm_orig_dst[4-tuple] (the agent reads it by the accepted socket's
 *             peer), socket into nm_sockhash; PASSIVE_ESTABLISHED of the agent side → nm_sockhash
 *   sk_msg:   bytes between the two sockets skip the TCP/IP stack (bpf_msg_redirect_hash)
 * Kernel mode: connect4 picks from nm_backends and rewrites to the endpoint itself.
 * Opt-in mode (nm_config.flags & NM_CFG_OPT_IN): connect4 captures, and inbound enforces STRICT, only
 * for pods whose cgroup or an ancestor of it is in nm_meshed; without the flag, everything below the
 * attach cgroup is in the mesh.
 * Layouts here are mirrored byte for byte by src/capture/layout.ts.
 */
#ifndef NODEMESH_MAPS_H
#define NODEMESH_MAPS_H

#include "common.h"

#define NM_MODE_PROXY 0
#define NM_MODE_KERNEL 1
#define NM_MAX_SERVICES 16384
#define NM_MAX_BACKENDS 65536
#define NM_MAX_CONNS 262144
#define NM_MAX_MESHED 16384
/* Deepest cgroup level searched for a meshed ancestor (kubelet puts containers at level 4-8). */
#define NM_MAX_CGROUP_DEPTH 32

/* nm_config.flags */
#define NM_CFG_OPT_IN 0x1 /* capture only pods whose cgroup (or an ancestor) is in nm_meshed */

/* A service address as the client dialled it. ip: network order; port: host order. */
struct nm_svc_key {
	__u32 vip;
	__u16 port;
	__u16 pad;
};

struct nm_svc_val {
	__u32 service_id;   /* stable id shared with userspace (FNV-1a of "ns/name") */
	__u8 mode;          /* NM_MODE_* */
	__u8 pad;
	__u16 backend_count; /* kernel mode: entries nm_backends[{service_id, port, 0..n-1}] */
	__u32 rr;           /* kernel mode: round-robin cursor, advanced atomically */
};

struct nm_backend_key {
	__u32 service_id;
	__u16 port;   /* service port (host order) */
	__u16 index;
};

struct nm_backend_val {
	__u32 ip;     /* network order */
	__u16 port;   /* host order */
	__u16 pad;
};

/* Socket 4-tuple from the owning socket's own point of view: s = local, d = remote. */
struct nm_tuple {
	__u32 sip;
	__u32 dip;
	__u16 sport;
	__u16 dport;
};

/* What connect4 learned about a connection; kept by cookie, then by 4-tuple for the agent. */
struct nm_conn {
	__u32 orig_ip;     /* network order */
	__u16 orig_port;   /* host order */
	__u8 mode;
	__u8 pad;
	__u32 service_id;
	__u32 pad2;
};

struct nm_config {
	__u32 agent_ip;    /* network order; 0 = proxy mode disabled (no redirect) */
	__u16 agent_port;  /* host order */
	__u16 flags;       /* NM_CFG_* */
};

/* Per-service counters, updated with atomic adds from every CPU. */
struct nm_svc_stats {
	__u64 opened;
	__u64 closed;
	__u64 bytes_sent;      /* by the client: TCP path + spliced */
	__u64 bytes_received;
	__u64 redirected;      /* connect4 rewrites */
	__u64 spliced_bytes;   /* sk_msg redirects, both directions */
};

/* Node-wide datapath counters: indexes into nm_global. */
enum nm_global_idx {
	NM_G_CONNECT_SEEN = 0,
	NM_G_CONNECT_PROXY,
	NM_G_CONNECT_KERNEL,
	NM_G_CONNECT_EXEMPT,
	NM_G_KERNEL_NO_BACKEND,
	NM_G_SOCKHASH_ACTIVE,
	NM_G_SOCKHASH_PASSIVE,
	NM_G_SOCKHASH_FAIL,
	NM_G_MSG_REDIRECT,
	NM_G_MSG_PASS,
	NM_G_STRICT_DROP,
	NM_G_CONNECT_NOT_MESHED, /* opt-in: a service connect from a pod outside the mesh, passed untouched */
	NM_G_STRICT_NOT_MESHED,  /* opt-in: a SYN to a STRICT address whose pod is outside the mesh, passed */
	NM_G_CONNECT_FALLBACK,   /* proxy mode with no agent listening: sent to an endpoint, or passed untouched */
	NM_G_DNS_REDIRECT,       /* a meshed pod's UDP datagram to port 53 sent to the agent's DNS proxy */
	NM_G_DNS_REPLY,          /* a reply from the DNS proxy given the original resolver as its source */
	NM_G_MAX,
};

/*
 * nm_global has room to spare, so that a new counter does not change the pinned map's layout (a
 * layout change means `nodemesh uninstall` before the upgrade).
 */
#define NM_GLOBAL_SLOTS 32
_Static_assert(NM_G_MAX <= NM_GLOBAL_SLOTS, "nm_global is full");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NM_MAX_SERVICES);
	__type(key, struct nm_svc_key);
	__type(value, struct nm_svc_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NM_MAX_BACKENDS);
	__type(key, struct nm_backend_key);
	__type(value, struct nm_backend_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nm_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_config SEC(".maps");

/* cgroup ids whose connects are never redirected: the agent's own (loop avoidance). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_exempt SEC(".maps");

/*
 * Opt-in mode (NM_CFG_OPT_IN): the cgroup ids of meshed pods (the pod-level cgroup; processes run in
 * container cgroups below it, so a match on any ancestor counts). Written by the agent, by difference.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NM_MAX_MESHED);
	__type(key, __u64);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_meshed SEC(".maps");

/* LRU: a connect that never establishes must not leak an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NM_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct nm_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_cookie_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NM_MAX_CONNS);
	__type(key, struct nm_tuple);
	__type(value, struct nm_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_orig_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, NM_MAX_CONNS);
	__type(key, struct nm_tuple);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_sockhash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NM_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct nm_svc_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NM_GLOBAL_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_global SEC(".maps");

/*
 * The agents' listening sockets (the outbound listener; two while one agent hands over to the next).
 * A socket leaves this map by itself when its process closes it or dies, so an empty map means no
 * agent can accept: connect4 then degrades to the kernel path instead of sending pods to a closed
 * port. Userspace reads a slot's socket cookie (8-byte values).
 */
#define NM_LISTENER_SLOTS 8
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, NM_LISTENER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_listeners SEC(".maps");

/* Inbound mTLS mode of a local workload: {pod ip, port} first, then {pod ip, 0} for the workload. */
/* The agent's DNS proxy (UDP): ip 0 = no redirect of port 53. */
struct nm_dns_config {
	__u32 ip;     /* network order */
	__u16 port;   /* host order */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nm_dns_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_dns SEC(".maps");

/* The resolver a redirected UDP socket meant (by socket cookie), restored as the reply's source. */
struct nm_dns_orig {
	__u32 ip;     /* network order */
	__u16 port;   /* network order, as in bpf_sock_addr.user_port */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nm_dns_orig);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_dns_orig SEC(".maps");

#define NM_MTLS_PERMISSIVE 0
#define NM_MTLS_STRICT 1
#define NM_MTLS_DISABLE 2

struct nm_inbound_key {
	__u32 ip;     /* network order */
	__u16 port;   /* host order; 0 = any port of the workload */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NM_MAX_SERVICES);
	__type(key, struct nm_inbound_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_inbound_mode SEC(".maps");

/* Source addresses allowed to open plaintext connections to STRICT workloads: the agents' delivery addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nm_trusted_src SEC(".maps");

static __always_inline void nm_global_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&nm_global, &idx);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int nm_opt_in(void)
{
	__u32 zero = 0;
	struct nm_config *cfg = bpf_map_lookup_elem(&nm_config, &zero);
	return cfg && (cfg->flags & NM_CFG_OPT_IN);
}

/*
 * Opt-in: is the calling task's cgroup, or one of its ancestors, a meshed pod? Processes run in
 * container cgroups below the pod cgroup the agent registers. ancestor(level) is 0 past the task's own
 * level, which ends the walk from the root down; the bound keeps the verifier happy.
 */
static __always_inline int nm_task_meshed(void)
{
	for (int level = 0; level < NM_MAX_CGROUP_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (id == 0)
			return 0;
		if (bpf_map_lookup_elem(&nm_meshed, &id))
			return 1;
	}
	return 0;
}

/* Stats entries are created by the agent on sync; create one here too so nothing is lost before. */
static __always_inline struct nm_svc_stats *nm_stats(__u32 service_id)
{
	struct nm_svc_stats *s = bpf_map_lookup_elem(&nm_svc_stats, &service_id);
	if (s)
		return s;
	struct nm_svc_stats zero = {};
	bpf_map_update_elem(&nm_svc_stats, &service_id, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&nm_svc_stats, &service_id);
}

#endif
