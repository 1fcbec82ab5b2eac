/*
 * lwaravissrc: a GigE Vision / USB3 Vision camera through libaravis-0.8, as a GStreamer live
 * source that tells which frame each buffer is.
 *
 * Why our own element: Debian's aravissrc (aravis 0.8.26) drops incomplete frames silently and
 * sets no buffer offset, no DISCONT and only a camera-clock PTS, so a frame lost on the network or
 * in the camera cannot be told from one that was never taken. Here:
 *
 * - GST_BUFFER_OFFSET is the camera's frame id (GVSP block id, USB3 Vision block id), OFFSET_END
 *   id + 1: GStreamer's convention for numbered video frames, which linewatch already turns into
 *   lost frames (a gap in offsets = frames lost upstream, each with its id).
 * - DISCONT is set on a buffer whose id does not follow the previous one.
 * - Failed buffers (ARV_BUFFER_STATUS_* other than SUCCESS: missing packets, timeout, …) are not
 *   pushed; their ids leave the gap that makes them `dropped` verdicts downstream. They are logged
 *   with their id and status, and counted (`frames-failed`).
 * - PTS is the host time the frame's first packet arrived (arv_buffer_get_system_timestamp),
 *   mapped onto the pipeline clock and made a running time. Not the camera's own timestamp: that
 *   one counts in the camera's clock (its own epoch and tick rate, drifting against the host's),
 *   which would need anchoring to the pipeline clock anyway, and aravissrc's anchoring is what
 *   made the first frame's time a guess. The camera timestamp is kept beside it as a
 *   GstReferenceTimestampMeta (`timestamp/x-gige-camera`), which linewatch's binding passes on.
 *
 * Pixels are copied once into a GstBuffer and the ArvBuffer goes straight back to the stream.
 * Wrapping it instead (returned by a destroy notify) would save that copy but let downstream hold
 * the stream's buffers: under a slow consumer the camera would then lose frames inside aravis
 * rather than in the appsink, where linewatch counts them exactly. The copy also pads rows to the
 * 4-byte stride GStreamer's raw video and Bayer caps assume.
 *
 * Properties follow aravissrc's names where linewatch's aravis preset uses them (camera-name,
 * exposure, gain, packet-size, features) so the two elements take the same description.
 */

#include <arv.h>
#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (lw_aravis_debug);
#define GST_CAT_DEFAULT lw_aravis_debug

/* Buffers handed to the stream: enough for a burst while create() copies one out. */
#define N_STREAM_BUFFERS 16
/* How long one wait for a buffer lasts before checking for a flush or a lost camera, in µs. */
#define POP_TIMEOUT_US 100000
/* GVSP 1.x block ids are 16 bits and skip 0: after 65535 comes 1. */
#define GVSP_V1_LAST_ID 65535

typedef struct {
  GstPushSrc parent;

  /* Properties (set before PLAYING; read under the object lock). */
  gchar *camera_name;
  gdouble exposure_us;  /* < 0: leave the camera's setting */
  gdouble gain_db;      /* < 0: leave the camera's setting */
  gint packet_size;     /* <= 0: as aravis negotiates it */
  gboolean packet_resend;
  gchar *features;

  /* Acquisition (streaming thread, between start and stop). */
  ArvCamera *camera;
  ArvStream *stream;
  GstClockTime frame_duration;  /* from the negotiated frame rate, or NONE */
  gboolean have_last_id;
  guint64 last_id;
  guint64 frames_failed;

  /* Set from other threads: unlock (flush) and the device's control-lost signal. */
  gint flushing;
  gint control_lost;
} LwAravisSrc;

typedef struct {
  GstPushSrcClass parent_class;
} LwAravisSrcClass;

G_DEFINE_TYPE (LwAravisSrc, lw_aravis_src, GST_TYPE_PUSH_SRC);
#define LW_ARAVIS_SRC(obj) ((LwAravisSrc *) (obj))

enum {
  PROP_0,
  PROP_CAMERA_NAME,
  PROP_EXPOSURE,
  PROP_GAIN,
  PROP_PACKET_SIZE,
  PROP_PACKET_RESEND,
  PROP_FEATURES,
  PROP_FRAMES_FAILED,
};

/* What linewatch asks cameras for (8-bit mono, Bayer, RGB) and 16-bit mono. */
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format=(string){ GRAY8, GRAY16_LE, RGB }, "
                     "width=(int)[1,MAX], height=(int)[1,MAX], framerate=(fraction)[0/1,MAX]; "
                     "video/x-bayer, format=(string){ bggr, rggb, grbg, gbrg }, "
                     "width=(int)[1,MAX], height=(int)[1,MAX], framerate=(fraction)[0/1,MAX]"));

/* The reference caps of the camera's own timestamp meta. */
static GstCaps *camera_clock_caps;

static const char *
status_name (ArvBufferStatus status)
{
  switch (status) {
    case ARV_BUFFER_STATUS_SUCCESS: return "success";
    case ARV_BUFFER_STATUS_CLEARED: return "cleared";
    case ARV_BUFFER_STATUS_TIMEOUT: return "timeout";
    case ARV_BUFFER_STATUS_MISSING_PACKETS: return "missing packets";
    case ARV_BUFFER_STATUS_WRONG_PACKET_ID: return "wrong packet id";
    case ARV_BUFFER_STATUS_SIZE_MISMATCH: return "size mismatch";
    case ARV_BUFFER_STATUS_FILLING: return "filling";
    case ARV_BUFFER_STATUS_ABORTED: return "aborted";
    default: return "unknown";
  }
}

/* The id that follows `last` without a gap (GVSP 1.x wraps its 16-bit ids to 1, never 0). */
static gboolean
follows (guint64 last, guint64 id)
{
  return id == last + 1 || (last == GVSP_V1_LAST_ID && id == 1);
}

static void
on_control_lost (ArvDevice *device, gpointer user_data)
{
  (void) device;
  /* Called from aravis's heartbeat thread: create() reports it on the streaming thread. */
  g_atomic_int_set (&LW_ARAVIS_SRC (user_data)->control_lost, 1);
}

static gboolean
lw_aravis_src_start (GstBaseSrc *base)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (base);
  GError *error = NULL;
  gchar *name;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->camera_name);
  GST_OBJECT_UNLOCK (self);

  /* Opened here, not when camera-name is set: each start of the pipeline reconnects, and a
   * stopped pipeline gives the camera (and its control privilege) back. */
  self->camera = arv_camera_new (name, &error);
  if (self->camera == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Could not open camera \"%s\": %s", name != NULL ? name : "(first found)", error->message), (NULL));
    g_clear_error (&error);
    g_free (name);
    return FALSE;
  }
  g_free (name);
  g_signal_connect (arv_camera_get_device (self->camera), "control-lost", G_CALLBACK (on_control_lost), self);
  self->have_last_id = FALSE;
  self->frames_failed = 0;
  self->frame_duration = GST_CLOCK_TIME_NONE;
  g_atomic_int_set (&self->control_lost, 0);
  return TRUE;
}

static void
stop_stream (LwAravisSrc *self)
{
  if (self->stream == NULL) return;
  /* A camera that went away fails this write: nothing to do about it but carry on closing. */
  arv_camera_stop_acquisition (self->camera, NULL);
  g_clear_object (&self->stream);
}

static gboolean
lw_aravis_src_stop (GstBaseSrc *base)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (base);

  stop_stream (self);
  if (self->camera != NULL) {
    g_signal_handlers_disconnect_by_data (arv_camera_get_device (self->camera), self);
    g_clear_object (&self->camera);
  }
  return TRUE;
}

/* A caps field for [min, max]: GStreamer's int ranges must not be empty, so a fixed bound is an int. */
static void
set_int_or_range (GstStructure *st, const char *field, gint min, gint max)
{
  if (max > min) gst_structure_set (st, field, GST_TYPE_INT_RANGE, min, max, NULL);
  else gst_structure_set (st, field, G_TYPE_INT, min, NULL);
}

/* The caps the open camera can give: each pixel format aravis maps to caps, within its bounds. */
static GstCaps *
camera_caps (LwAravisSrc *self, GError **error)
{
  gint wmin = 0, wmax = 0, hmin = 0, hmax = 0;
  guint n = 0;
  gint64 *formats = NULL;
  gboolean has_rate = arv_camera_is_frame_rate_available (self->camera, NULL);
  gdouble rmin = 0, rmax = 0;
  GstCaps *caps;

  arv_camera_get_width_bounds (self->camera, &wmin, &wmax, error);
  if (*error == NULL) arv_camera_get_height_bounds (self->camera, &hmin, &hmax, error);
  if (*error == NULL) formats = arv_camera_dup_available_pixel_formats (self->camera, &n, error);
  if (*error == NULL && has_rate) arv_camera_get_frame_rate_bounds (self->camera, &rmin, &rmax, error);
  if (*error != NULL) {
    g_free (formats);
    return NULL;
  }
  caps = gst_caps_new_empty ();
  for (guint i = 0; i < n; i++) {
    const char *s = arv_pixel_format_to_gst_caps_string ((ArvPixelFormat) formats[i]);
    GstStructure *st;
    if (s == NULL || (st = gst_structure_from_string (s, NULL)) == NULL) continue;
    set_int_or_range (st, "width", wmin, wmax);
    set_int_or_range (st, "height", hmin, hmax);
    if (has_rate) {
      gint rn0, rd0, rn1, rd1;
      gst_util_double_to_fraction (rmin, &rn0, &rd0);
      gst_util_double_to_fraction (rmax, &rn1, &rd1);
      gst_structure_set (st, "framerate", GST_TYPE_FRACTION_RANGE, rn0, rd0, rn1, rd1, NULL);
    }
    gst_caps_append_structure (caps, st);
  }
  g_free (formats);
  return caps;
}

static GstCaps *
lw_aravis_src_get_caps (GstBaseSrc *base, GstCaps *filter)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (base);
  GstCaps *caps = NULL;
  GError *error = NULL;

  if (self->camera != NULL) {
    caps = camera_caps (self, &error);
    if (caps == NULL) {
      GST_WARNING_OBJECT (self, "cannot read the camera's formats and bounds: %s", error->message);
      g_clear_error (&error);
    }
  }
  /* Before start (no camera yet), or when the camera cannot say: what the element can give. */
  if (caps == NULL) caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (base));
  if (filter != NULL) {
    GstCaps *both = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = both;
  }
  return caps;
}

/* Unset sizes and rates become the camera's current ones (its ROI and rate), not the minimum. */
static GstCaps *
lw_aravis_src_fixate (GstBaseSrc *base, GstCaps *caps)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (base);
  gint width = 0, height = 0;

  caps = gst_caps_make_writable (caps);
  if (self->camera != NULL) {
    GstStructure *st = gst_caps_get_structure (caps, 0);
    arv_camera_get_region (self->camera, NULL, NULL, &width, &height, NULL);
    if (width > 0) gst_structure_fixate_field_nearest_int (st, "width", width);
    if (height > 0) gst_structure_fixate_field_nearest_int (st, "height", height);
    if (gst_structure_has_field (st, "framerate") && arv_camera_is_frame_rate_available (self->camera, NULL)) {
      gint n, d;
      gst_util_double_to_fraction (arv_camera_get_frame_rate (self->camera, NULL), &n, &d);
      gst_structure_fixate_field_nearest_fraction (st, "framerate", n, d);
    }
  }
  return GST_BASE_SRC_CLASS (lw_aravis_src_parent_class)->fixate (base, caps);
}

/* Exposure and gain: a set value switches the camera's auto mode off first (else it overrides). */
static void
apply_exposure_gain (LwAravisSrc *self, gdouble exposure_us, gdouble gain_db, GError **error)
{
  if (exposure_us >= 0) {
    if (arv_camera_is_exposure_auto_available (self->camera, NULL))
      arv_camera_set_exposure_time_auto (self->camera, ARV_AUTO_OFF, error);
    if (*error == NULL) arv_camera_set_exposure_time (self->camera, exposure_us, error);
  }
  if (*error == NULL && gain_db >= 0) {
    if (arv_camera_is_gain_auto_available (self->camera, NULL))
      arv_camera_set_gain_auto (self->camera, ARV_AUTO_OFF, error);
    if (*error == NULL) arv_camera_set_gain (self->camera, gain_db, error);
  }
}

/* The negotiated caps decide pixel format, ROI and rate; then settings, stream, acquisition. */
static gboolean
lw_aravis_src_set_caps (GstBaseSrc *base, GstCaps *caps)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (base);
  GstStructure *st = gst_caps_get_structure (caps, 0);
  GError *error = NULL;
  gint width = 0, height = 0, rate_n = 0, rate_d = 1;
  ArvPixelFormat format;
  gdouble exposure_us, gain_db;
  gint packet_size;
  gboolean resend;
  gchar *features;
  guint payload = 0;

  format = arv_pixel_format_from_gst_caps (gst_structure_get_name (st), gst_structure_get_string (st, "format"), 0, 0);
  if (format == 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No camera pixel format for caps %" GST_PTR_FORMAT, caps), (NULL));
    return FALSE;
  }
  gst_structure_get_int (st, "width", &width);
  gst_structure_get_int (st, "height", &height);
  gst_structure_get_fraction (st, "framerate", &rate_n, &rate_d);

  GST_OBJECT_LOCK (self);
  exposure_us = self->exposure_us;
  gain_db = self->gain_db;
  packet_size = self->packet_size;
  resend = self->packet_resend;
  features = g_strdup (self->features);
  GST_OBJECT_UNLOCK (self);

  /* A renegotiation: the camera takes no new format while it streams. */
  stop_stream (self);

  arv_camera_set_pixel_format (self->camera, format, &error);
  if (error == NULL && width > 0 && height > 0) arv_camera_set_region (self->camera, 0, 0, width, height, &error);
  if (error == NULL && rate_n > 0 && arv_camera_is_frame_rate_available (self->camera, NULL))
    arv_camera_set_frame_rate (self->camera, (gdouble) rate_n / rate_d, &error);
  if (error == NULL) apply_exposure_gain (self, exposure_us, gain_db, &error);
  if (error == NULL && packet_size > 0 && arv_camera_is_gv_device (self->camera))
    arv_camera_gv_set_packet_size (self->camera, packet_size, &error);
  /* Features last: they may name what the typed properties set (TriggerMode, …) and then win. */
  if (error == NULL && features != NULL && features[0] != '\0')
    arv_device_set_features_from_string (arv_camera_get_device (self->camera), features, &error);
  if (error == NULL) payload = arv_camera_get_payload (self->camera, &error);
  if (error == NULL) self->stream = arv_camera_create_stream (self->camera, NULL, NULL, &error);
  g_free (features);
  if (error == NULL) {
    if (ARV_IS_GV_STREAM (self->stream))
      g_object_set (self->stream, "packet-resend",
          resend ? ARV_GV_STREAM_PACKET_RESEND_ALWAYS : ARV_GV_STREAM_PACKET_RESEND_NEVER, NULL);
    for (int i = 0; i < N_STREAM_BUFFERS; i++) arv_stream_push_buffer (self->stream, arv_buffer_new (payload, NULL));
    arv_camera_start_acquisition (self->camera, &error);
  }
  if (error != NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Could not set up camera \"%s\" for %" GST_PTR_FORMAT ": %s", self->camera_name != NULL ? self->camera_name : "(first found)",
         caps, error->message), (NULL));
    g_clear_error (&error);
    g_clear_object (&self->stream);
    return FALSE;
  }
  self->frame_duration = rate_n > 0 ? gst_util_uint64_scale_int (GST_SECOND, rate_d, rate_n) : GST_CLOCK_TIME_NONE;
  self->have_last_id = FALSE;
  return TRUE;
}

static gboolean
lw_aravis_src_unlock (GstBaseSrc *base)
{
  g_atomic_int_set (&LW_ARAVIS_SRC (base)->flushing, 1);
  return TRUE;
}

static gboolean
lw_aravis_src_unlock_stop (GstBaseSrc *base)
{
  g_atomic_int_set (&LW_ARAVIS_SRC (base)->flushing, 0);
  return TRUE;
}

/*
 * The host time the frame's first packet arrived (CLOCK_REALTIME, ns) as a running time of this
 * pipeline: the element's clock read beside the real-time clock gives the offset between them.
 * NONE without a clock (not playing yet); 0 for a frame that arrived before the pipeline started.
 */
static GstClockTime
running_time_of (LwAravisSrc *self, guint64 system_ns)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime base_time = gst_element_get_base_time (GST_ELEMENT (self));
  GstClockTime now, at;
  gint64 real_now, age;

  if (clock == NULL || system_ns == 0) {
    if (clock != NULL) gst_object_unref (clock);
    return GST_CLOCK_TIME_NONE;
  }
  now = gst_clock_get_time (clock);
  real_now = g_get_real_time () * 1000;
  gst_object_unref (clock);
  age = real_now - (gint64) system_ns;
  if (age < 0) age = 0;  /* the two reads straddle a µs tick */
  at = now > (GstClockTime) age ? now - (GstClockTime) age : 0;
  return at > base_time ? at - base_time : 0;
}

/* One successful ArvBuffer → a GstBuffer that says which frame it is and when it came. */
static GstBuffer *
to_gst_buffer (LwAravisSrc *self, ArvBuffer *arv, guint64 id)
{
  size_t size = 0;
  const guint8 *data = arv_buffer_get_data (arv, &size);
  gint width = 0, height = 0;
  ArvPixelFormat format = arv_buffer_get_image_pixel_format (arv);
  gsize row, stride;
  GstBuffer *buf;
  GstMapInfo map;
  guint64 camera_ns = arv_buffer_get_timestamp (arv);

  arv_buffer_get_image_region (arv, NULL, NULL, &width, &height);
  row = (gsize) width * ARV_PIXEL_FORMAT_BIT_PER_PIXEL (format) / 8;
  stride = GST_ROUND_UP_4 (row);
  if (height <= 0 || row * (gsize) height > size) return NULL;
  buf = gst_buffer_new_allocate (NULL, stride * (gsize) height, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  if (stride == row) {
    memcpy (map.data, data, row * (gsize) height);
  } else {
    for (gint y = 0; y < height; y++) memcpy (map.data + (gsize) y * stride, data + (gsize) y * row, row);
  }
  gst_buffer_unmap (buf, &map);

  GST_BUFFER_OFFSET (buf) = id;
  GST_BUFFER_OFFSET_END (buf) = id + 1;
  GST_BUFFER_PTS (buf) = running_time_of (self, arv_buffer_get_system_timestamp (arv));
  GST_BUFFER_DURATION (buf) = self->frame_duration;
  if (camera_ns != 0) gst_buffer_add_reference_timestamp_meta (buf, camera_clock_caps, camera_ns, GST_CLOCK_TIME_NONE);
  /* The first frame of a stream, and any after a gap in the camera's numbering. */
  if (!self->have_last_id || !follows (self->last_id, id)) GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  return buf;
}

static GstFlowReturn
lw_aravis_src_create (GstPushSrc *push, GstBuffer **out)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (push);

  if (self->stream == NULL) return GST_FLOW_NOT_NEGOTIATED;
  for (;;) {
    ArvBuffer *arv;
    ArvBufferStatus status;
    guint64 id;
    GstBuffer *buf;

    if (g_atomic_int_get (&self->flushing)) return GST_FLOW_FLUSHING;
    if (g_atomic_int_get (&self->control_lost)) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Lost control of camera \"%s\" (no answer to heartbeats: unplugged, powered off or taken over)",
           self->camera_name != NULL ? self->camera_name : "(first found)"), (NULL));
      return GST_FLOW_ERROR;
    }
    /* Short waits, not one long one: a triggered camera may idle for ever, and a flush must not
     * wait for the next frame. */
    arv = arv_stream_timeout_pop_buffer (self->stream, POP_TIMEOUT_US);
    if (arv == NULL) continue;
    status = arv_buffer_get_status (arv);
    id = arv_buffer_get_frame_id (arv);
    if (status != ARV_BUFFER_STATUS_SUCCESS) {
      /* Not pushed: the gap its id leaves in the offsets is what tells downstream it was lost. */
      self->frames_failed++;
      GST_WARNING_OBJECT (self, "frame %" G_GUINT64_FORMAT " lost: %s", id, status_name (status));
      arv_stream_push_buffer (self->stream, arv);
      continue;
    }
    buf = to_gst_buffer (self, arv, id);
    arv_stream_push_buffer (self->stream, arv);
    if (buf == NULL) {
      self->frames_failed++;
      GST_WARNING_OBJECT (self, "frame %" G_GUINT64_FORMAT " lost: its image is smaller than its region", id);
      continue;
    }
    if (self->have_last_id && !follows (self->last_id, id))
      GST_INFO_OBJECT (self, "frames lost between %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT, self->last_id, id);
    self->have_last_id = TRUE;
    self->last_id = id;
    *out = buf;
    return GST_FLOW_OK;
  }
}

static void
lw_aravis_src_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_CAMERA_NAME:
      g_free (self->camera_name);
      self->camera_name = g_value_dup_string (value);
      break;
    case PROP_EXPOSURE: self->exposure_us = g_value_get_double (value); break;
    case PROP_GAIN: self->gain_db = g_value_get_double (value); break;
    case PROP_PACKET_SIZE: self->packet_size = g_value_get_int (value); break;
    case PROP_PACKET_RESEND: self->packet_resend = g_value_get_boolean (value); break;
    case PROP_FEATURES:
      g_free (self->features);
      self->features = g_value_dup_string (value);
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
lw_aravis_src_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_CAMERA_NAME: g_value_set_string (value, self->camera_name); break;
    case PROP_EXPOSURE: g_value_set_double (value, self->exposure_us); break;
    case PROP_GAIN: g_value_set_double (value, self->gain_db); break;
    case PROP_PACKET_SIZE: g_value_set_int (value, self->packet_size); break;
    case PROP_PACKET_RESEND: g_value_set_boolean (value, self->packet_resend); break;
    case PROP_FEATURES: g_value_set_string (value, self->features); break;
    case PROP_FRAMES_FAILED: g_value_set_uint64 (value, self->frames_failed); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
lw_aravis_src_finalize (GObject *object)
{
  LwAravisSrc *self = LW_ARAVIS_SRC (object);

  g_free (self->camera_name);
  g_free (self->features);
  G_OBJECT_CLASS (lw_aravis_src_parent_class)->finalize (object);
}

static void
lw_aravis_src_init (LwAravisSrc *self)
{
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  self->exposure_us = -1;
  self->gain_db = -1;
  self->packet_resend = TRUE;
}

static void
lw_aravis_src_class_init (LwAravisSrcClass *klass)
{
  GObjectClass *gobject = G_OBJECT_CLASS (klass);
  GstElementClass *element = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc = GST_BASE_SRC_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  gobject->set_property = lw_aravis_src_set_property;
  gobject->get_property = lw_aravis_src_get_property;
  gobject->finalize = lw_aravis_src_finalize;

  g_object_class_install_property (gobject, PROP_CAMERA_NAME,
      g_param_spec_string ("camera-name", "Camera name", "Camera as arv-tool-0.8 lists it (NULL: the first found)", NULL, rw));
  g_object_class_install_property (gobject, PROP_EXPOSURE,
      g_param_spec_double ("exposure", "Exposure", "Exposure time in µs, auto exposure off (-1: leave as is)", -1, G_MAXDOUBLE, -1, rw));
  g_object_class_install_property (gobject, PROP_GAIN,
      g_param_spec_double ("gain", "Gain", "Gain in dB, auto gain off (-1: leave as is)", -1, 500, -1, rw));
  g_object_class_install_property (gobject, PROP_PACKET_SIZE,
      g_param_spec_int ("packet-size", "Packet size", "GigE Vision packet size in bytes (0: as aravis negotiates)", 0, 65535, 0, rw));
  g_object_class_install_property (gobject, PROP_PACKET_RESEND,
      g_param_spec_boolean ("packet-resend", "Packet resend", "Ask a GigE Vision camera to resend missing packets", TRUE, rw));
  g_object_class_install_property (gobject, PROP_FEATURES,
      g_param_spec_string ("features", "Features", "GenICam features as space-separated Name=Value, set last", NULL, rw));
  g_object_class_install_property (gobject, PROP_FRAMES_FAILED,
      g_param_spec_uint64 ("frames-failed", "Frames failed", "Frames the stream delivered incomplete (not pushed) since start",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata (element, "linewatch Aravis source", "Source/Video",
      "GigE Vision / USB3 Vision camera through aravis; buffer offsets are the camera's frame ids", "linewatch");
  gst_element_class_add_static_pad_template (element, &src_template);

  basesrc->start = lw_aravis_src_start;
  basesrc->stop = lw_aravis_src_stop;
  basesrc->get_caps = lw_aravis_src_get_caps;
  basesrc->fixate = lw_aravis_src_fixate;
  basesrc->set_caps = lw_aravis_src_set_caps;
  basesrc->unlock = lw_aravis_src_unlock;
  basesrc->unlock_stop = lw_aravis_src_unlock_stop;
  GST_PUSH_SRC_CLASS (klass)->create = lw_aravis_src_create;

  camera_clock_caps = gst_caps_new_empty_simple ("timestamp/x-gige-camera");
  GST_DEBUG_CATEGORY_INIT (lw_aravis_debug, "lwaravissrc", 0, "linewatch aravis source");
}

static gboolean
plugin_init (GstPlugin *plugin)
{
  return gst_element_register (plugin, "lwaravissrc", GST_RANK_NONE, lw_aravis_src_get_type ());
}

#define PACKAGE "linewatch"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, lwaravis, "linewatch's aravis camera source with frame ids",
    plugin_init, "0.1.0", "Proprietary", "linewatch", "linewatch")
