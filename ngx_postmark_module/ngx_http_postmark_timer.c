
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Timers of the module's own, not tied to any request or connection: the
 * engine's, the spool's scan and the retries'.
 */


#include "ngx_http_postmark_module.h"


/*
 * What nginx's debug log reads of an event's "connection": only its fd,
 * the fourth pointer (nginx's own cache manager does the same).
 */

static void  *ngx_http_postmark_ident[4] = {
    NULL, NULL, NULL, (void *) (ngx_socket_t) -1
};


/* a timer of the module's own, found in its handler by its member */

void
ngx_http_postmark_timer_init(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_log_t *log)
{
    ev->handler = handler;
    ev->data = ngx_http_postmark_ident;
    ev->log = log;
    ev->cancelable = 1;
}


void
ngx_http_postmark_timer_stop(ngx_event_t *ev)
{
    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (ev->posted) {
        ngx_delete_posted_event(ev);
    }
}
