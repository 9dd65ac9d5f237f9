/* Shared includes and small helpers for the nodemesh hooks. */
#ifndef NODEMESH_COMMON_H
#define NODEMESH_COMMON_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#endif

/*
 * bpf_sock_ops and sk_msg_md expose remote_port as the network-order 16-bit port shifted into the
 * upper half of a u32 (on little-endian hosts); local_port is already host order.
 */
static __always_inline __u16 nm_remote_port(__u32 remote_port)
{
	return bpf_ntohs((__u16)(remote_port >> 16));
}

#endif
