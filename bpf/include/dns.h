/*
 * Port 53 of meshed pods to the agent's DNS proxy (UDP). connect4 (connected sockets, as glibc and
 * c-ares use) and sendmsg4 (unconnected ones) rewrite the destination to the proxy and remember the
 * resolver the socket meant; recvmsg4 gives the reply that resolver's address as its source, so the
 * client accepts it. The agent's own forwarded queries are exempt.
 */
#ifndef NODEMESH_DNS_H
#define NODEMESH_DNS_H

#include "maps.h"

/* A UDP datagram (or connect) to port 53: to the DNS proxy, when one is set and the caller is meshed. */
static __always_inline void nm_dns_redirect(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port != bpf_htons(53))
		return;
	__u32 zero = 0;
	struct nm_dns_config *dns = bpf_map_lookup_elem(&nm_dns, &zero);
	if (!dns || dns->ip == 0 || dns->port == 0)
		return;
	__u64 cg = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&nm_exempt, &cg))
		return;
	if (nm_opt_in() && !nm_task_meshed())
		return;
	struct nm_dns_orig orig = { .ip = ctx->user_ip4, .port = (__u16)ctx->user_port };
	__u64 cookie = bpf_get_socket_cookie(ctx);
	bpf_map_update_elem(&nm_dns_orig, &cookie, &orig, BPF_ANY);
	ctx->user_ip4 = dns->ip;
	ctx->user_port = bpf_htons(dns->port);
	nm_global_inc(NM_G_DNS_REDIRECT);
}

#endif
