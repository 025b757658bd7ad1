/* A live patch for Debian's nginx 1.22 (/usr/sbin/nginx): every response gains the header
 * "X-Hotpatch: nginx-send-header-v1". It replaces ngx_http_send_header(), which nginx exports in
 * its .dynsym for dynamic modules, with the same function plus one header. The body is nginx's own
 * (src/http/ngx_http_core_module.c), built against the headers of the nginx-dev package configured
 * with the ABI flags of the Debian build, so the request structure has the layout of that binary. */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hotpatch/patch.h>

static ngx_int_t send_header_with_mark(ngx_http_request_t* r) {
  if (r->post_action) {
    return NGX_OK;
  }
  if (r->header_sent) {
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0, "header already sent");
    return NGX_ERROR;
  }
  if (r->err_status) {
    r->headers_out.status = r->err_status;
    r->headers_out.status_line.len = 0;
  }
  /* Subrequests share the main request's header; only the main request gets the mark. */
  if (r == r->main) {
    ngx_table_elt_t* h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
      return NGX_ERROR;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "X-Hotpatch");
    ngx_str_set(&h->value, "nginx-send-header-v1");
  }
  return ngx_http_top_header_filter(r);
}

HOTPATCH_REPLACE_C(ngx_http_send_header, send_header_with_mark);
