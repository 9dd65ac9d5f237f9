// Thin libbpf shim for nodemesh; see nmbpf.h for the contract.
#include "nmbpf.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NM_MAX_OBJECTS 16

static struct bpf_object *objects[NM_MAX_OBJECTS];

static void say(char *err, int errlen, const char *fmt, ...)
{
	if (!err || errlen <= 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, (size_t)errlen, fmt, ap);
	va_end(ap);
}

// libbpf prints verifier logs and warnings through this; keep them on stderr for the operator.
static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !getenv("NODEMESH_LIBBPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, args);
}

int nm_object_open(const char *obj_path, const char *pin_dir, char *err, int errlen)
{
	libbpf_set_print(print_fn);
	int slot = -1;
	for (int i = 0; i < NM_MAX_OBJECTS; i++) {
		if (!objects[i]) {
			slot = i;
			break;
		}
	}
	if (slot < 0) {
		say(err, errlen, "too many bpf objects open");
		return -EMFILE;
	}
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct bpf_object *obj = bpf_object__open_file(obj_path, &opts);
	long e = libbpf_get_error(obj);
	if (e) {
		say(err, errlen, "open %s: %s", obj_path, strerror((int)-e));
		return (int)e;
	}
	objects[slot] = obj;
	return slot;
}

int nm_object_set_max_entries(int handle, const char *map_name, unsigned int max_entries)
{
	if (handle < 0 || handle >= NM_MAX_OBJECTS || !objects[handle])
		return -EBADF;
	struct bpf_map *map = bpf_object__find_map_by_name(objects[handle], map_name);
	if (!map)
		return -ENOENT;
	return bpf_map__set_max_entries(map, max_entries);
}

int nm_object_load_opened(int handle, char *err, int errlen)
{
	if (handle < 0 || handle >= NM_MAX_OBJECTS || !objects[handle])
		return -EBADF;
	int rc = bpf_object__load(objects[handle]);
	if (rc) {
		// libbpf reuses a pin only when type, sizes and max_entries all match.
		say(err, errlen, "load %s: %s (a pinned map with another layout or size? run 'nodemesh uninstall')",
		    bpf_object__name(objects[handle]), strerror(-rc));
		nm_object_close(handle);
	}
	return rc;
}

int nm_object_load(const char *obj_path, const char *pin_dir, char *err, int errlen)
{
	int h = nm_object_open(obj_path, pin_dir, err, errlen);
	if (h < 0)
		return h;
	int rc = nm_object_load_opened(h, err, errlen);
	return rc ? rc : h;
}

int nm_object_prog_fd(int handle, const char *prog_name)
{
	if (handle < 0 || handle >= NM_MAX_OBJECTS || !objects[handle])
		return -EBADF;
	struct bpf_program *prog = bpf_object__find_program_by_name(objects[handle], prog_name);
	if (!prog)
		return -ENOENT;
	return bpf_program__fd(prog);
}

void nm_object_close(int handle)
{
	if (handle < 0 || handle >= NM_MAX_OBJECTS || !objects[handle])
		return;
	bpf_object__close(objects[handle]);
	objects[handle] = NULL;
}

int nm_attach_cgroup(int prog_fd, int attach_type, const char *cgroup_path, const char *link_pin, char *err, int errlen)
{
	int link_fd = bpf_obj_get(link_pin);
	if (link_fd >= 0) {
		// Re-adopt: swap the program inside the existing link, so there is never a second attachment
		// and never a moment without one.
		int rc = bpf_link_update(link_fd, prog_fd, NULL);
		close(link_fd);
		if (rc) {
			say(err, errlen, "update pinned link %s: %s", link_pin, strerror(-rc));
			return rc;
		}
		return 1;
	}
	int cg = open(cgroup_path, O_RDONLY | O_DIRECTORY);
	if (cg < 0) {
		int e = errno;
		say(err, errlen, "open cgroup %s: %s", cgroup_path, strerror(e));
		return -e;
	}
	link_fd = bpf_link_create(prog_fd, cg, (enum bpf_attach_type)attach_type, NULL);
	close(cg);
	if (link_fd < 0) {
		say(err, errlen, "attach to cgroup %s: %s", cgroup_path, strerror(-link_fd));
		return link_fd;
	}
	int rc = bpf_obj_pin(link_fd, link_pin);
	if (rc) {
		say(err, errlen, "pin link at %s: %s", link_pin, strerror(-rc));
		close(link_fd);
		return rc;
	}
	close(link_fd);
	return 0;
}

int nm_attach_sk_msg(int prog_fd, int map_fd, char *err, int errlen)
{
	int rc = bpf_prog_attach(prog_fd, map_fd, BPF_SK_MSG_VERDICT, 0);
	if (rc)
		say(err, errlen, "attach sk_msg to sockhash: %s", strerror(-rc));
	return rc;
}

int nm_detach_link(const char *link_pin)
{
	int fd = bpf_obj_get(link_pin);
	if (fd < 0)
		return -ENOENT;
	int rc = bpf_link_detach(fd);
	close(fd);
	if (unlink(link_pin) && rc == 0)
		rc = -errno;
	return rc;
}

int nm_cgroup_prog_count(const char *cgroup_path, int attach_type)
{
	int cg = open(cgroup_path, O_RDONLY | O_DIRECTORY);
	if (cg < 0)
		return -errno;
	__u32 ids[64];
	__u32 count = 64;
	__u32 flags = 0;
	int rc = bpf_prog_query(cg, (enum bpf_attach_type)attach_type, 0, &flags, ids, &count);
	close(cg);
	return rc ? rc : (int)count;
}

int nm_obj_get(const char *path)
{
	int fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int nm_close_fd(int fd)
{
	return close(fd) ? -errno : 0;
}

int nm_map_update(int fd, const void *key, const void *value, unsigned long long flags)
{
	return bpf_map_update_elem(fd, key, value, flags) ? -errno : 0;
}

int nm_map_lookup(int fd, const void *key, void *value)
{
	return bpf_map_lookup_elem(fd, key, value) ? -errno : 0;
}

int nm_map_delete(int fd, const void *key)
{
	return bpf_map_delete_elem(fd, key) ? -errno : 0;
}

int nm_map_dump(int fd, int key_size, int value_size, void *keys, void *values, int max)
{
	char *k = keys;
	char *v = values;
	int n = 0;
	void *prev = NULL;
	// get_next_key walks hash and array maps alike; an entry deleted under us ends the walk early,
	// which a counter read tolerates (the next scrape sees it).
	while (n < max && bpf_map_get_next_key(fd, prev, k + (size_t)n * key_size) == 0) {
		void *cur = k + (size_t)n * key_size;
		if (bpf_map_lookup_elem(fd, cur, v + (size_t)n * value_size) == 0) {
			prev = cur;
			n++;
		} else {
			prev = cur;
		}
	}
	return n;
}

int nm_map_count(int fd, int key_size)
{
	char a[64], b[64];
	if (key_size <= 0 || key_size > (int)sizeof(a))
		return -EINVAL;
	int n = 0;
	void *prev = NULL;
	char *next = a;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		n++;
		prev = next;
		next = next == a ? b : a;
	}
	return n;
}

int nm_map_info(int fd, unsigned int *info)
{
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi);
	int rc = bpf_obj_get_info_by_fd(fd, &mi, &len);
	if (rc)
		return rc;
	info[0] = mi.type;
	info[1] = mi.key_size;
	info[2] = mi.value_size;
	info[3] = mi.max_entries;
	return 0;
}
