
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Threads and files (ngx_http_postmark_file.c): the tasks the spool and
 * the admin API post to nginx's thread pool, and the plain system calls
 * they make there.
 */

#ifndef _NGX_HTTP_POSTMARK_FILE_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_FILE_H_INCLUDED_


#include "ngx_http_postmark_module.h"


typedef ngx_int_t (*ngx_http_postmark_name_pt)(void *data, char *name);


ngx_thread_task_t *ngx_http_postmark_task_create(size_t size,
    void (*thread)(void *data, ngx_log_t *log), ngx_event_handler_pt done);
ngx_int_t ngx_http_postmark_task_post(ngx_thread_task_t *task);
uint64_t ngx_http_postmark_now(void);

ngx_int_t ngx_http_postmark_walk_dir(u_char *dir, char *suffix,
    ngx_http_postmark_name_pt handler, void *data);
ngx_int_t ngx_http_postmark_list_dir(u_char *dir, char *suffix, char ***names,
    size_t *n);
void ngx_http_postmark_names_free(char **names, size_t n);
ssize_t ngx_http_postmark_pread(ngx_fd_t fd, u_char *buf, size_t len,
    off_t offset);
ngx_int_t ngx_http_postmark_pwrite(ngx_fd_t fd, u_char *buf, size_t len,
    off_t offset);
ngx_int_t ngx_http_postmark_linked(ngx_fd_t fd);
ngx_int_t ngx_http_postmark_sync_dir(u_char *dir);

/* what ngx_http_postmark_linked() calls, for the error log */
#if (NGX_LINUX && defined STATX_NLINK)
#define NGX_HTTP_POSTMARK_STATX        1
#define NGX_HTTP_POSTMARK_LINKED_CALL  "statx()"
#else
#define NGX_HTTP_POSTMARK_STATX        0
#define NGX_HTTP_POSTMARK_LINKED_CALL  "fstat()"
#endif


#endif /* _NGX_HTTP_POSTMARK_FILE_H_INCLUDED_ */
