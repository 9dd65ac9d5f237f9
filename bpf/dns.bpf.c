/*
 * cgroup/sendmsg4 and cgroup/recvmsg4: a meshed pod's DNS over UDP goes to the agent's DNS proxy
 * (include/dns.h); connected UDP sockets are redirected by connect4 with the same helper.
 */
#include "dns.h"

SEC("cgroup/sendmsg4")
int nm_sendmsg4(struct bpf_sock_addr *ctx)
{
	nm_dns_redirect(ctx);
	return 1;
}

/* A datagram from the DNS proxy to a socket that was redirected: its source becomes the resolver. */
SEC("cgroup/recvmsg4")
int nm_recvmsg4(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct nm_dns_orig *orig = bpf_map_lookup_elem(&nm_dns_orig, &cookie);
	if (!orig)
		return 1;
	__u32 zero = 0;
	struct nm_dns_config *dns = bpf_map_lookup_elem(&nm_dns, &zero);
	if (!dns || ctx->user_ip4 != dns->ip || ctx->user_port != bpf_htons(dns->port))
		return 1;
	ctx->user_ip4 = orig->ip;
	ctx->user_port = orig->port;
	nm_global_inc(NM_G_DNS_REPLY);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
