/*
 * The native boundary of nodemesh: a thin C layer over libbpf, loaded by src/capture/ffi.ts with
 * ffi-napi. It exists so that the TypeScript side passes plain strings, ints and buffers, never
 * libbpf structs, and so that whole-map reads are one call instead of one per entry.
 * Every function returns >= 0 on success or a negative errno; messages go to the caller's buffer.
 */
#ifndef NODEMESH_NMBPF_H
#define NODEMESH_NMBPF_H

/* Open and load one bpf object; maps marked LIBBPF_PIN_BY_NAME are created or reused under pin_dir. */
int nm_object_load(const char *obj_path, const char *pin_dir, char *err, int errlen);
/* The same in three steps, so map sizes can be set between open and load. Returns the handle. */
int nm_object_open(const char *obj_path, const char *pin_dir, char *err, int errlen);
/* max_entries of one of an opened object's maps (before load); -ENOENT when the object has no such map. */
int nm_object_set_max_entries(int handle, const char *map_name, unsigned int max_entries);
/* Loads an opened object (creating or reusing pins); on failure the handle is closed. */
int nm_object_load_opened(int handle, char *err, int errlen);
/* Program fd of a loaded object's program, by name. */
int nm_object_prog_fd(int handle, const char *prog_name);
void nm_object_close(int handle);

/*
 * Attach a cgroup program through a bpf link pinned at link_pin. If the pin already exists the link is
 * re-adopted and atomically switched to this program (no second attachment). Returns 0 = attached,
 * 1 = re-adopted.
 */
int nm_attach_cgroup(int prog_fd, int attach_type, const char *cgroup_path, const char *link_pin, char *err, int errlen);
/* Attach an sk_msg verdict program to a sockhash/sockmap (replaces a previous one). */
int nm_attach_sk_msg(int prog_fd, int map_fd, char *err, int errlen);
/* Detach the link pinned at link_pin and remove the pin. Returns 0, or -ENOENT when absent. */
int nm_detach_link(const char *link_pin);
/* Count of programs attached to cgroup_path for attach_type (BPF_CGROUP_INET4_CONNECT, ...). */
int nm_cgroup_prog_count(const char *cgroup_path, int attach_type);

int nm_obj_get(const char *path);
int nm_close_fd(int fd);
int nm_map_update(int fd, const void *key, const void *value, unsigned long long flags);
int nm_map_lookup(int fd, const void *key, void *value);
int nm_map_delete(int fd, const void *key);
/* Copy up to max entries into keys/values (packed); returns the number copied. */
int nm_map_dump(int fd, int key_size, int value_size, void *keys, void *values, int max);
/* Number of keys in a map (a walk without value copies, for occupancy metrics). */
int nm_map_count(int fd, int key_size);
/* Fills info[0..3] = type, key_size, value_size, max_entries. */
int nm_map_info(int fd, unsigned int *info);

#endif
