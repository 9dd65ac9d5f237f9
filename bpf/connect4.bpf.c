/*
 * cgroup/connect4: the capture point. A TCP connect() from a pod to a known service address (VIP:port)
 * is either rewritten to the node agent's outbound listener (proxy mode, original destination kept by
 * socket cookie) or, for kernel-mode services, straight to an endpoint picked here (socket-level load
 * balancing: no per-packet NAT, no userspace hop). Everything else passes untouched, and so does, in
 * opt-in mode, every connect from a pod outside the mesh.
 */
#include "maps.h"
#include "dns.h"

/* Rewrite to one of the service port's endpoints, round robin; 0 when none is there. */
static __always_inline int nm_pick_backend(struct bpf_sock_addr *ctx, struct nm_svc_val *svc, __u16 port)
{
	__u16 n = svc->backend_count;
	if (n == 0) {
		nm_global_inc(NM_G_KERNEL_NO_BACKEND);
		return 0;
	}
	__u32 cursor = __sync_fetch_and_add(&svc->rr, 1);
	struct nm_backend_key bk = { .service_id = svc->service_id, .port = port, .index = cursor % n };
	struct nm_backend_val *be = bpf_map_lookup_elem(&nm_backends, &bk);
	if (!be) {
		nm_global_inc(NM_G_KERNEL_NO_BACKEND);
		return 0;
	}
	ctx->user_ip4 = be->ip;
	ctx->user_port = bpf_htons(be->port);
	return 1;
}

/* Is any agent's outbound listener open? (Its socket is in nm_listeners while it lives.) */
static __always_inline int nm_agent_listening(void)
{
	for (__u32 slot = 0; slot < NM_LISTENER_SLOTS; slot++) {
		struct bpf_sock *sk = bpf_map_lookup_elem(&nm_listeners, &slot);
		if (sk) {
			bpf_sk_release(sk);
			return 1;
		}
	}
	return 0;
}

SEC("cgroup/connect4")
int nm_connect4(struct bpf_sock_addr *ctx)
{
	/* A connected UDP socket to port 53 (glibc, c-ares): to the agent's DNS proxy. */
	if (ctx->protocol == IPPROTO_UDP) {
		nm_dns_redirect(ctx);
		return 1;
	}
	if (ctx->protocol != IPPROTO_TCP)
		return 1;
	/* DNS over TCP to port 53: to the DNS proxy's TCP listener (same port), before any service lookup. */
	if (ctx->user_port == bpf_htons(53)) {
		nm_dns_redirect(ctx);
		if (ctx->user_port != bpf_htons(53))
			return 1;
	}

	struct nm_svc_key key = { .vip = ctx->user_ip4, .port = bpf_ntohs((__u16)ctx->user_port) };
	struct nm_svc_val *svc = bpf_map_lookup_elem(&nm_services, &key);
	if (!svc)
		return 1;
	nm_global_inc(NM_G_CONNECT_SEEN);

	/* The agent's own upstream connections must reach the real endpoints (loop avoidance). */
	__u64 cg = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&nm_exempt, &cg)) {
		nm_global_inc(NM_G_CONNECT_EXEMPT);
		return 1;
	}
	/* Checked only for service addresses, after the cheap lookups: other connects cost nothing more. */
	if (nm_opt_in() && !nm_task_meshed()) {
		nm_global_inc(NM_G_CONNECT_NOT_MESHED);
		return 1;
	}

	struct nm_conn conn = {
		.orig_ip = ctx->user_ip4,
		.orig_port = key.port,
		.mode = svc->mode,
		.service_id = svc->service_id,
	};

	if (svc->mode == NM_MODE_KERNEL) {
		/* No endpoint: fail the connect at once (EPERM) rather than dial a VIP nobody owns. */
		if (!nm_pick_backend(ctx, svc, key.port))
			return 0;
		nm_global_inc(NM_G_CONNECT_KERNEL);
	} else {
		__u32 zero = 0;
		struct nm_config *cfg = bpf_map_lookup_elem(&nm_config, &zero);
		if (!cfg || cfg->agent_ip == 0)
			return 1;
		if (!nm_agent_listening()) {
			/*
			 * No agent accepts (crashed, or between two agents): rather than refuse the pod, go to an
			 * endpoint as kernel mode would (no L7 policy for this connection), or leave the connect
			 * untouched for the node's own service routing (kube-proxy) when no endpoint is known.
			 */
			nm_global_inc(NM_G_CONNECT_FALLBACK);
			if (svc->backend_count == 0 || !nm_pick_backend(ctx, svc, key.port))
				return 1;
			conn.mode = NM_MODE_KERNEL;
		} else {
			ctx->user_ip4 = cfg->agent_ip;
			ctx->user_port = bpf_htons(cfg->agent_port);
			nm_global_inc(NM_G_CONNECT_PROXY);
		}
	}

	__u64 cookie = bpf_get_socket_cookie(ctx);
	bpf_map_update_elem(&nm_cookie_dst, &cookie, &conn, BPF_ANY);
	struct nm_svc_stats *st = nm_stats(conn.service_id);
	if (st)
		__sync_fetch_and_add(&st->redirected, 1);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
