//! Geo commands over sorted sets: a member's score is the 52-bit geohash of
//! its position, computed exactly as Redis 7.0 does (geohash.c,
//! geohash_helper.c, geo.c), so scores, GEOHASH strings, positions,
//! distances and search results match Redis bit for bit. Writes go through
//! the sorted-set code ([`zset::zadd_run`], [`zset::store`]), so geo sets
//! follow the sorted-set conflict rules.

use commands::errors as E;
use crdt::{Blob, Score, ZSet};
use resp::Frame;

use crate::args::{self, eq};
use crate::zset::{self, AddFlags};
use crate::{bulk, err, error, int, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    Some(match name {
        "geoadd" => geoadd(e, a),
        "geopos" => geopos(e, a),
        "geodist" => geodist(e, a),
        "geohash" => geohash_cmd(e, a),
        "georadius" => search(e, a, 1, RADIUS_COORDS),
        "georadius_ro" => search(e, a, 1, RADIUS_COORDS | RADIUS_NOSTORE),
        "georadiusbymember" => search(e, a, 1, RADIUS_MEMBER),
        "georadiusbymember_ro" => search(e, a, 1, RADIUS_MEMBER | RADIUS_NOSTORE),
        "geosearch" => search(e, a, 1, GEOSEARCH),
        "geosearchstore" => search(e, a, 2, GEOSEARCH | GEOSEARCHSTORE),
        _ => return None,
    })
}

// ---- geohash (geohash.c) ------------------------------------------------------

const GEO_STEP_MAX: u8 = 26;
const GEO_LAT_MIN: f64 = -85.05112878;
const GEO_LAT_MAX: f64 = 85.05112878;
const GEO_LONG_MIN: f64 = -180.0;
const GEO_LONG_MAX: f64 = 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Range {
    min: f64,
    max: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Area {
    longitude: Range,
    latitude: Range,
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = xlo as u64;
    let mut y = ylo as u64;
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] =
        [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

fn coord_range() -> (Range, Range) {
    (Range { min: GEO_LONG_MIN, max: GEO_LONG_MAX }, Range { min: GEO_LAT_MIN, max: GEO_LAT_MAX })
}

/// `geohashEncode`; None where Redis returns 0.
fn encode(long_range: Range, lat_range: Range, longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    if step > 32 || step == 0 || (lat_range.min == 0.0 && lat_range.max == 0.0) || (long_range.min == 0.0 && long_range.max == 0.0) {
        return None;
    }
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&longitude) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min || latitude > lat_range.max || longitude < long_range.min || longitude > long_range.max {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(HashBits { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

/// The 52-bit score of a position (GEOADD).
pub(crate) fn encode_wgs84(longitude: f64, latitude: f64) -> Option<u64> {
    let (lo, la) = coord_range();
    encode(lo, la, longitude, latitude, GEO_STEP_MAX).map(align52)
}

fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() || (lat_range.min == 0.0 && lat_range.max == 0.0) || (long_range.min == 0.0 && long_range.max == 0.0) {
        return None;
    }
    let step = hash.step;
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (ilato as f64 * 1.0 / div) * lat_scale,
            max: lat_range.min + ((ilato.wrapping_add(1)) as f64 * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilono as f64 * 1.0 / div) * long_scale,
            max: long_range.min + ((ilono.wrapping_add(1)) as f64 * 1.0 / div) * long_scale,
        },
    })
}

/// `decodeGeohash`: the position a score stands for.
pub(crate) fn decode_score(score: f64) -> Option<[f64; 2]> {
    // C's (uint64_t) conversion; out of range values are undefined there.
    let bits = if score >= 18446744073709551616.0 || score.is_nan() { 0 } else { score as u64 };
    let (lo, la) = coord_range();
    let area = decode(lo, la, HashBits { bits, step: GEO_STEP_MAX })?;
    let mut x = (area.longitude.min + area.longitude.max) / 2.0;
    x = x.clamp(GEO_LONG_MIN, GEO_LONG_MAX);
    let mut y = (area.latitude.min + area.latitude.max) / 2.0;
    y = y.clamp(GEO_LAT_MIN, GEO_LAT_MAX);
    Some([x, y])
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

#[derive(Clone, Copy, Default)]
struct Neighbors {
    north: HashBits,
    east: HashBits,
    west: HashBits,
    south: HashBits,
    north_east: HashBits,
    south_east: HashBits,
    north_west: HashBits,
    south_west: HashBits,
}

fn neighbors(hash: &HashBits) -> Neighbors {
    let mv = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: mv(1, 0),
        west: mv(-1, 0),
        south: mv(0, -1),
        north: mv(0, 1),
        north_west: mv(-1, 1),
        north_east: mv(1, 1),
        south_east: mv(1, -1),
        south_west: mv(-1, -1),
    }
}

fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - hash.step as u32 * 2)
}

// ---- geohash_helper.c -------------------------------------------------------------

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ShapeKind {
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    kind: ShapeKind,
    xy: [f64; 2],
    /// Meters per unit.
    conversion: f64,
}

fn bounding_box(shape: &Shape) -> [f64; 4] {
    let longitude = shape.xy[0];
    let latitude = shape.xy[1];
    let (height, width) = match shape.kind {
        ShapeKind::Circle { radius } => (shape.conversion * radius, shape.conversion * radius),
        ShapeKind::Box { width, height } => (shape.conversion * (height / 2.0), shape.conversion * (width / 2.0)),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    [
        if southern { longitude - long_delta_bottom } else { longitude - long_delta_top },
        latitude - lat_delta,
        if southern { longitude + long_delta_bottom } else { longitude + long_delta_top },
        latitude + lat_delta,
    ]
}

struct Radius {
    hash: HashBits,
    neighbors: Neighbors,
}

/// `geohashCalculateAreasByShapeWGS84`: the center box and its neighbors
/// that cover the search area.
fn areas_by_shape(shape: &Shape) -> Radius {
    let b = bounding_box(shape);
    let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
    let longitude = shape.xy[0];
    let latitude = shape.xy[1];
    let mut radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    };
    radius_meters *= shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let (long_range, lat_range) = coord_range();
    let enc = |steps: u8| encode(long_range, lat_range, longitude, latitude, steps).unwrap_or(HashBits { bits: 0, step: steps });
    let mut hash = enc(steps);
    let mut nb = neighbors(&hash);
    let mut area = decode(long_range, lat_range, hash).unwrap_or_default();
    let dec = |h: HashBits| decode(long_range, lat_range, h).unwrap_or_default();
    let north = dec(nb.north);
    let south = dec(nb.south);
    let east = dec(nb.east);
    let west = dec(nb.west);
    let decrease_step = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        hash = enc(steps);
        nb = neighbors(&hash);
        area = decode(long_range, lat_range, hash).unwrap_or_default();
    }
    if steps >= 2 {
        let zero = HashBits::default();
        if area.latitude.min < min_lat {
            nb.south = zero;
            nb.south_west = zero;
            nb.south_east = zero;
        }
        if area.latitude.max > max_lat {
            nb.north = zero;
            nb.north_east = zero;
            nb.north_west = zero;
        }
        if area.longitude.min < min_lon {
            nb.west = zero;
            nb.south_west = zero;
            nb.north_west = zero;
        }
        if area.longitude.max > max_lon {
            nb.east = zero;
            nb.south_east = zero;
            nb.north_east = zero;
        }
    }
    Radius { hash, neighbors: nb }
}

fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Haversine great-circle distance in meters (`geohashGetDistance`).
pub(crate) fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// `geoWithinShape`: Some(distance from the center) if the point is inside.
fn within_shape(shape: &Shape, score: f64) -> Option<([f64; 2], f64)> {
    let xy = decode_score(score)?;
    match shape.kind {
        ShapeKind::Circle { radius } => {
            let d = distance(shape.xy[0], shape.xy[1], xy[0], xy[1]);
            (d <= radius * shape.conversion).then_some((xy, d))
        }
        ShapeKind::Box { width, height } => {
            let (w, h) = (width * shape.conversion, height * shape.conversion);
            let (x1, y1, x2, y2) = (shape.xy[0], shape.xy[1], xy[0], xy[1]);
            if lat_distance(y2, y1) > h / 2.0 {
                return None;
            }
            if distance(x2, y2, x1, y2) > w / 2.0 {
                return None;
            }
            Some((xy, distance(x1, y1, x2, y2)))
        }
    }
}

struct Point {
    member: Blob,
    score: f64,
    xy: [f64; 2],
    dist: f64,
}

/// `geoGetPointsInRange`: members with min <= score < max inside the shape.
fn points_in_range(z: &ZSet, min: f64, max: f64, shape: &Shape, out: &mut Vec<Point>, limit: usize) {
    let r = zset::ScoreRange { min, max, minex: false, maxex: true };
    for (s, m) in zset::score_iter(z, &r, false) {
        if let Some((xy, dist)) = within_shape(shape, s.0) {
            out.push(Point { member: m.clone(), score: s.0, xy, dist });
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
    }
}

/// `membersOfAllNeighbors`: the center box, then N S E W NE NW SE SW.
fn members_of_all_neighbors(z: &ZSet, n: &Radius, shape: &Shape, limit: usize) -> Vec<Point> {
    let nb = &n.neighbors;
    let boxes = [n.hash, nb.north, nb.south, nb.east, nb.west, nb.north_east, nb.north_west, nb.south_east, nb.south_west];
    let mut out = Vec::new();
    let mut last_processed = 0usize;
    for i in 0..boxes.len() {
        if boxes[i].is_zero() {
            continue;
        }
        if last_processed != 0 && boxes[i] == boxes[last_processed] {
            continue;
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let min = align52(boxes[i]);
        let max = align52(HashBits { bits: boxes[i].bits.wrapping_add(1), step: boxes[i].step });
        points_in_range(z, min as f64, max as f64, shape, &mut out, limit);
        last_processed = i;
    }
    out
}

// ---- replies -------------------------------------------------------------------------

/// `addReplyDoubleDistance`: 4 decimals (`fixedpoint_d2string`).
fn fmt_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let v = (d * 10000.0).round_ties_even();
    let v = if v >= 9_223_372_036_854_775_808.0 /* 2^63 */ || v.is_nan() { i64::MIN } else { v as i64 };
    let neg = v < 0;
    let u = v.unsigned_abs();
    format!("{}{}.{:04}", if neg { "-" } else { "" }, u / 10000, u % 10000)
}

/// `ld2string(LD_STR_HUMAN)`: `%.17Lf` without trailing zeros.
fn fmt_human(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// `addReplyHumanLongDouble`: a bulk string in RESP2, a double in RESP3.
fn human_reply(resp3: bool, v: f64) -> Frame {
    if resp3 {
        // Redis sends `,` + the %.17Lf text; Frame::Double prints %.17g,
        // which a client parses to the same double.
        Frame::Double(v)
    } else {
        bulk(fmt_human(v).as_bytes())
    }
}

// ---- arguments -------------------------------------------------------------------------

/// `extractLongLatOrReply`.
fn long_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Frame> {
    let x = zset::float_arg(lon, err::NOT_FLOAT)?;
    let y = zset::float_arg(lat, err::NOT_FLOAT)?;
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&x) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&y) {
        return Err(error(&E::geo_invalid_pair(x, y)));
    }
    Ok([x, y])
}

/// `extractUnitOrReply`: meters per unit.
fn unit(u: &[u8]) -> Result<f64, Frame> {
    if eq(u, "m") {
        Ok(1.0)
    } else if eq(u, "km") {
        Ok(1000.0)
    } else if eq(u, "ft") {
        Ok(0.3048)
    } else if eq(u, "mi") {
        Ok(1609.34)
    } else {
        Err(error(E::GEO_UNSUPPORTED_UNIT))
    }
}

/// `extractDistanceOrReply`: (radius, conversion).
fn radius_arg(r: &[u8], u: &[u8]) -> Result<(f64, f64), Frame> {
    let d = zset::float_arg(r, "ERR need numeric radius")?;
    if d < 0.0 {
        return Err(error(E::GEO_RADIUS_NEGATIVE));
    }
    Ok((d, unit(u)?))
}

/// `extractBoxOrReply`: (width, height, conversion).
fn box_arg(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), Frame> {
    let w = zset::float_arg(w, "ERR need numeric width")?;
    let h = zset::float_arg(h, "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(error(E::GEO_BOX_NEGATIVE));
    }
    Ok((w, h, unit(u)?))
}

fn member_pos(z: &ZSet, member: &[u8]) -> Option<[f64; 2]> {
    decode_score(z.score(member)?)
}

// ---- commands ------------------------------------------------------------------------------

fn geoadd(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let mut f = AddFlags::default();
    let mut idx = 2;
    while idx < a.len() {
        if eq(&a[idx], "nx") {
            f.nx = true;
        } else if eq(&a[idx], "xx") {
            f.xx = true;
        } else if eq(&a[idx], "ch") {
            f.ch = true;
        } else {
            break;
        }
        idx += 1;
    }
    let left = a.len() - idx;
    if !left.is_multiple_of(3) || (f.xx && f.nx) || left == 0 {
        return error(err::SYNTAX);
    }
    let mut pairs = Vec::with_capacity(left / 3);
    for t in a[idx..].chunks(3) {
        let xy = match long_lat(&t[0], &t[1]) {
            Ok(xy) => xy,
            Err(f) => return f,
        };
        let Some(bits) = encode_wgs84(xy[0], xy[1]) else { return error(&E::geo_invalid_pair(xy[0], xy[1])) };
        pairs.push((bits as f64, &t[2][..]));
    }
    zset::zadd_run(e, &a[1], f, &pairs)
}

fn geopos(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let out: Vec<Option<[f64; 2]>> = match zset::lookup(e, &a[1], Access::Read) {
        Err(f) => return f,
        Ok(z) => a[2..].iter().map(|m| z.and_then(|z| member_pos(z, m))).collect(),
    };
    Frame::Array(
        out.into_iter()
            .map(|p| match p {
                None => Frame::NullArray,
                Some(xy) => Frame::Array(vec![human_reply(e.resp3, xy[0]), human_reply(e.resp3, xy[1])]),
            })
            .collect(),
    )
}

fn geodist(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let to_meter = match a.len() {
        5 => match unit(&a[4]) {
            Ok(u) => u,
            Err(f) => return f,
        },
        n if n > 5 => return error(err::SYNTAX),
        _ => 1.0,
    };
    let z = match zset::lookup(e, &a[1], Access::Read) {
        Err(f) => return f,
        Ok(None) => return Frame::Null,
        Ok(Some(z)) => z,
    };
    let (Some(s1), Some(s2)) = (z.score(&a[2]), z.score(&a[3])) else { return Frame::Null };
    match (decode_score(s1), decode_score(s2)) {
        (Some(p), Some(q)) => bulk(fmt_distance(distance(p[0], p[1], q[0], q[1]) / to_meter).as_bytes()),
        _ => Frame::Null,
    }
}

fn geohash_cmd(e: &mut Engine, a: &[&[u8]]) -> Frame {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let z = match zset::lookup(e, &a[1], Access::Read) {
        Err(f) => return f,
        Ok(z) => z,
    };
    let mut out = Vec::with_capacity(a.len() - 2);
    for m in &a[2..] {
        let Some(xy) = z.and_then(|z| member_pos(z, m)) else {
            out.push(Frame::Null);
            continue;
        };
        let r_lon = Range { min: -180.0, max: 180.0 };
        let r_lat = Range { min: -90.0, max: 90.0 };
        let Some(hash) = encode(r_lon, r_lat, xy[0], xy[1], 26) else {
            out.push(Frame::Null);
            continue;
        };
        let mut buf = [0u8; 11];
        for (i, c) in buf.iter_mut().enumerate() {
            let idx = if i == 10 { 0 } else { (hash.bits >> (52 - (i + 1) * 5)) & 0x1f };
            *c = ALPHABET[idx as usize];
        }
        out.push(bulk(&buf));
    }
    Frame::Array(out)
}

const RADIUS_COORDS: u32 = 1 << 0;
const RADIUS_MEMBER: u32 = 1 << 1;
const RADIUS_NOSTORE: u32 = 1 << 2;
const GEOSEARCH: u32 = 1 << 3;
const GEOSEARCHSTORE: u32 = 1 << 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// `georadiusGeneric`: GEORADIUS[BYMEMBER][_RO], GEOSEARCH[STORE].
fn search(e: &mut Engine, a: &[&[u8]], src_idx: usize, flags: u32) -> Frame {
    let src = &a[src_idx];
    let exists = match zset::lookup(e, src, Access::Read) {
        Err(f) => return f,
        Ok(z) => z.is_some(),
    };
    let resp3 = e.resp3;
    let z: Option<&ZSet> = if exists { zset::zset_of(e, src) } else { None };
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let mut xy = [0.0, 0.0];
    let mut kind: Option<ShapeKind> = None;
    let mut conversion = 1.0;
    let base_args;
    if flags & RADIUS_COORDS != 0 {
        base_args = 6;
        match long_lat(&a[2], &a[3]) {
            Ok(p) => xy = p,
            Err(f) => return f,
        }
        match radius_arg(&a[4], &a[5]) {
            Ok((r, c)) => {
                kind = Some(ShapeKind::Circle { radius: r });
                conversion = c;
            }
            Err(f) => return f,
        }
    } else if flags & RADIUS_MEMBER != 0 {
        base_args = 5;
        if let Some(z) = z {
            match member_pos(z, &a[2]) {
                Some(p) => xy = p,
                None => return error(E::GEO_MEMBER_NOT_FOUND),
            }
            match radius_arg(&a[3], &a[4]) {
                Ok((r, c)) => {
                    kind = Some(ShapeKind::Circle { radius: r });
                    conversion = c;
                }
                Err(f) => return f,
            }
        }
    } else {
        base_args = if flags & GEOSEARCHSTORE != 0 { 3 } else { 2 };
        if flags & GEOSEARCHSTORE != 0 {
            storekey = Some(a[1]);
        }
    }
    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let remaining = a.len().saturating_sub(base_args);
    let mut i = 0;
    while i < remaining {
        let arg = &a[base_args + i];
        let at = |k: usize| &a[base_args + i + k];
        if eq(arg, "withdist") {
            withdist = true;
        } else if eq(arg, "withhash") {
            withhash = true;
        } else if eq(arg, "withcoord") {
            withcoords = true;
        } else if eq(arg, "any") {
            any = true;
        } else if eq(arg, "asc") {
            sort = Sort::Asc;
        } else if eq(arg, "desc") {
            sort = Sort::Desc;
        } else if eq(arg, "count") && i + 1 < remaining {
            match args::int(at(1)) {
                Ok(c) if c > 0 => count = c,
                Ok(_) => return error(E::GEO_COUNT_NOT_POSITIVE),
                Err(f) => return f,
            }
            i += 1;
        } else if (eq(arg, "store") || eq(arg, "storedist"))
            && i + 1 < remaining
            && flags & RADIUS_NOSTORE == 0
            && flags & GEOSEARCH == 0
        {
            storekey = Some(*at(1));
            storedist = eq(arg, "storedist");
            i += 1;
        } else if eq(arg, "storedist") && flags & GEOSEARCH != 0 && flags & GEOSEARCHSTORE != 0 {
            storedist = true;
        } else if eq(arg, "frommember") && i + 1 < remaining && flags & GEOSEARCH != 0 && !fromloc {
            if let Some(z) = z {
                match member_pos(z, at(1)) {
                    Some(p) => xy = p,
                    None => return error(E::GEO_MEMBER_NOT_FOUND),
                }
            }
            frommember = true;
            i += 1;
        } else if eq(arg, "fromlonlat") && i + 2 < remaining && flags & GEOSEARCH != 0 && !frommember {
            match long_lat(at(1), at(2)) {
                Ok(p) => xy = p,
                Err(f) => return f,
            }
            fromloc = true;
            i += 2;
        } else if eq(arg, "byradius") && i + 2 < remaining && flags & GEOSEARCH != 0 && !bybox {
            match radius_arg(at(1), at(2)) {
                Ok((r, c)) => {
                    kind = Some(ShapeKind::Circle { radius: r });
                    conversion = c;
                }
                Err(f) => return f,
            }
            byradius = true;
            i += 2;
        } else if eq(arg, "bybox") && i + 3 < remaining && flags & GEOSEARCH != 0 && !byradius {
            match box_arg(at(1), at(2), at(3)) {
                Ok((w, h, c)) => {
                    kind = Some(ShapeKind::Box { width: w, height: h });
                    conversion = c;
                }
                Err(f) => return f,
            }
            bybox = true;
            i += 3;
        } else {
            return error(err::SYNTAX);
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoords) {
        return error(if flags & GEOSEARCHSTORE != 0 { E::GEOSEARCHSTORE_WITH } else { E::GEORADIUS_STORE_WITH });
    }
    let cmd = String::from_utf8_lossy(&a[0]).into_owned();
    if flags & GEOSEARCH != 0 && !(frommember || fromloc) {
        return error(&format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {cmd}"));
    }
    if flags & GEOSEARCH != 0 && !(byradius || bybox) {
        return error(&format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {cmd}"));
    }
    if any && count == 0 {
        return error(E::GEO_ANY_WITHOUT_COUNT);
    }
    let Some(z) = z else {
        return match storekey {
            Some(dst) => {
                zset::store(e, dst, &[], "");
                int(0)
            }
            None => Frame::Array(Vec::new()),
        };
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape { kind: kind.unwrap_or(ShapeKind::Circle { radius: 0.0 }), xy, conversion };
    let radius = areas_by_shape(&shape);
    let limit = if any { count as usize } else { 0 };
    let mut points = members_of_all_neighbors(z, &radius, &shape, limit);
    if points.is_empty() && storekey.is_none() {
        return Frame::Array(Vec::new());
    }
    let returned = if count == 0 || (points.len() as i64) < count { points.len() } else { count as usize };
    match sort {
        Sort::Asc => points.sort_by(|p, q| p.dist.partial_cmp(&q.dist).unwrap_or(std::cmp::Ordering::Equal)),
        Sort::Desc => points.sort_by(|p, q| q.dist.partial_cmp(&p.dist).unwrap_or(std::cmp::Ordering::Equal)),
        Sort::None => {}
    }
    points.truncate(returned);
    for p in points.iter_mut() {
        p.dist /= shape.conversion;
    }
    if let Some(dst) = storekey {
        let mut items: Vec<(Blob, f64)> =
            points.into_iter().map(|p| (p.member, if storedist { p.dist } else { p.score })).collect();
        items.sort_by(|x, y| (Score(x.1), &x.0).cmp(&(Score(y.1), &y.0)));
        let n = items.len();
        zset::store(e, dst, &items, if flags & GEOSEARCH != 0 { "geosearchstore" } else { "georadiusstore" });
        return int(n as i64);
    }
    let options = withdist as usize + withhash as usize + withcoords as usize;
    Frame::Array(
        points
            .into_iter()
            .map(|p| {
                if options == 0 {
                    return bulk(&p.member);
                }
                let mut v = vec![bulk(&p.member)];
                if withdist {
                    v.push(bulk(fmt_distance(p.dist).as_bytes()));
                }
                if withhash {
                    v.push(int(p.score as i64));
                }
                if withcoords {
                    v.push(Frame::Array(vec![human_reply(resp3, p.xy[0]), human_reply(resp3, p.xy[1])]));
                }
                Frame::Array(v)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    //! Geo replies checked against redis-server 7.0.15 (both protocols; the
    //! RESP3 coordinates are marked unchecked, see `human_reply`), and the
    //! geohash arithmetic against values Redis computes.

    use super::*;

    #[test]
    fn replies_match_redis() {
        let bad = crate::zset::tests::replay(GOLDEN);
        assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    }

    #[test]
    fn geohash_scores_and_positions_like_redis() {
        // GEOADD Palermo / Catania scores and GEOPOS replies from Redis.
        assert_eq!(encode_wgs84(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode_wgs84(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(encode_wgs84(200.0, 0.0), None);
        let p = decode_score(3479099956230698.0).unwrap();
        assert_eq!(fmt_human(p[0]), "13.36138933897018433");
        assert_eq!(fmt_human(p[1]), "38.11555639549629859");
        assert_eq!(fmt_human(-0.0), "0");
        assert_eq!(fmt_human(180.0), "180");
    }

    #[test]
    fn distances_like_redis() {
        let p = decode_score(3479099956230698.0).unwrap();
        let q = decode_score(3479447370796909.0).unwrap();
        assert_eq!(fmt_distance(distance(p[0], p[1], q[0], q[1]) / 1000.0), "166.2742");
        assert_eq!(fmt_distance(0.0), "0.0000");
        assert_eq!(fmt_distance(0.00004), "0.0000");
        assert_eq!(fmt_distance(0.00015), "0.0001"); // 1.4999999999999998 after scaling
        assert_eq!(fmt_distance(0.00016), "0.0002");
        assert_eq!(fmt_distance(2.5 / 10000.0 * 1.0), "0.0002"); // llrint: ties to even
        assert_eq!(fmt_distance(12.5), "12.5000");
    }

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ffffff, 0x1234567), (u32::MAX, 7)] {
            let i = interleave64(x, y);
            let d = deinterleave64(i);
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
    }

    /// Captured from redis-server 7.0.15 (see `zset::tests::replay`).
    const GOLDEN: &str = r##"
geoadd g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania	:2\r\n	=
geoadd g 200 100 x	-ERR invalid longitude,latitude pair 200.000000,100.000000\r\n	=
geoadd g 13 abc x	-ERR value is not a valid float\r\n	=
geoadd g 13 38	-ERR wrong number of arguments for 'geoadd' command\r\n	=
geoadd g nx xx 13 38 x	-ERR syntax error\r\n	=
geoadd g ch 13.361389 38.115556 Palermo 1 1 new	:1\r\n	=
geoadd g xx ch 0 0 Palermo 1 1 nope	:1\r\n	=
geoadd g nx 10 10 Palermo	:0\r\n	=
geoadd g gt 1 1 x	-ERR syntax error\r\n	=
geoadd g -180 -85.05112878 sw 180 85.05112878 ne	:2\r\n	=
geoadd g 180 86 toonorth	-ERR invalid longitude,latitude pair 180.000000,86.000000\r\n	=
zrange g 0 -1 withscores	*10\r\n$2\r\nsw\r\n$1\r\n0\r\n$7\r\nPalermo\r\n$16\r\n3377699720527872\r\n$3\r\nnew\r\n$16\r\n3377822707026402\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n$2\r\nne\r\n$17\r\n13510798882111488\r\n	*5\r\n*2\r\n$2\r\nsw\r\n,0\r\n*2\r\n$7\r\nPalermo\r\n,3377699720527872\r\n*2\r\n$3\r\nnew\r\n,3377822707026402\r\n*2\r\n$7\r\nCatania\r\n,3479447370796909\r\n*2\r\n$2\r\nne\r\n,13510798882111488\r\n
geopos g Palermo Catania nope sw ne	*5\r\n*2\r\n$19\r\n0.00000268220901489\r\n$19\r\n0.00000126736058093\r\n*2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n*-1\r\n*2\r\n$22\r\n-179.99999731779098511\r\n$21\r\n-85.05112751263942528\r\n*2\r\n$3\r\n180\r\n$19\r\n85.0511287799999991\r\n	?
geopos nokey a b	*2\r\n*-1\r\n*-1\r\n	*2\r\n_\r\n_\r\n
geodist g Palermo Catania	$12\r\n4449695.8942\r\n	=
geodist g Palermo Catania km	$9\r\n4449.6959\r\n	=
geodist g Palermo Catania mi	$9\r\n2764.9197\r\n	=
geodist g Palermo Catania ft	$13\r\n14598739.8105\r\n	=
geodist g Palermo Catania m	$12\r\n4449695.8942\r\n	=
geodist g Palermo Catania furlong	-ERR unsupported unit provided. please use M, KM, FT, MI\r\n	=
geodist g Palermo nope	$-1\r\n	_\r\n
geodist nokey a b	$-1\r\n	_\r\n
geodist g Palermo Catania km extra	-ERR syntax error\r\n	=
geodist g Palermo Palermo	$6\r\n0.0000\r\n	=
geohash g Palermo Catania nope sw ne	*5\r\n$11\r\ns0000000000\r\n$11\r\nsqdtr74hyu0\r\n$-1\r\n$11\r\n00bh0hbj200\r\n$11\r\nbp05b5048p0\r\n	*5\r\n$11\r\ns0000000000\r\n$11\r\nsqdtr74hyu0\r\n_\r\n$11\r\n00bh0hbj200\r\n$11\r\nbp05b5048p0\r\n
geohash nokey a	*1\r\n$-1\r\n	*1\r\n_\r\n
set s x	+OK\r\n	=
geopos s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
geoadd s 1 1 a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
geohash s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
geodist s a b	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
geoadd g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 12.758489 38.788135 edge1 12.496365 41.902782 Rome 2.349014 48.864716 Paris -0.127758 51.507351 London 139.691706 35.689487 Tokyo	:7\r\n	=
georadius g 15 37 200 km	*2\r\n$7\r\nPalermo\r\n$7\r\nCatania\r\n	=
georadius g 15 37 200 km withdist	*2\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n	=
georadius g 15 37 200 km withdist withcoord withhash asc	*2\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n*4\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n:3479099956230698\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n	?
georadius g 15 37 200 km withdist desc	*2\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n	=
georadius g 15 37 2000 km count 3 asc	*3\r\n$7\r\nCatania\r\n$7\r\nPalermo\r\n$5\r\nedge1\r\n	=
georadius g 15 37 2000 km count 3 desc withdist	*3\r\n*2\r\n$5\r\nParis\r\n$9\r\n1669.5005\r\n*2\r\n$4\r\nRome\r\n$8\r\n586.1050\r\n*2\r\n$5\r\nedge1\r\n$8\r\n279.7405\r\n	=
georadius g 15 37 2000 km count 2 any	*2\r\n$7\r\nPalermo\r\n$5\r\nedge1\r\n	=
georadius g 15 37 2000 km any	-ERR the ANY argument requires COUNT argument\r\n	=
georadius g 15 37 2000 km count 0	-ERR COUNT must be > 0\r\n	=
georadius g 15 37 2000 km count -1	-ERR COUNT must be > 0\r\n	=
georadius g 15 37 2000 km count abc	-ERR value is not an integer or out of range\r\n	=
georadius g 15 37 -1 km	-ERR radius cannot be negative\r\n	=
georadius g 15 37 abc km	-ERR need numeric radius\r\n	=
georadius g 15 37 200 parsec	-ERR unsupported unit provided. please use M, KM, FT, MI\r\n	=
georadius g 200 37 200 km	-ERR invalid longitude,latitude pair 200.000000,37.000000\r\n	=
georadius g 15 37 200 km foo	-ERR syntax error\r\n	=
georadius g 15 37 200 km store	-ERR syntax error\r\n	=
georadius g 15 37 200 km withdist store dst	-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n	=
georadius g 15 37 2000 km store dst	:5\r\n	=
zrange dst 0 -1 withscores	*10\r\n$7\r\nPalermo\r\n$16\r\n3479099956230698\r\n$5\r\nedge1\r\n$16\r\n3479273021651468\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n$4\r\nRome\r\n$16\r\n3480343273965391\r\n$5\r\nParis\r\n$16\r\n3663832805879806\r\n	*5\r\n*2\r\n$7\r\nPalermo\r\n,3479099956230698\r\n*2\r\n$5\r\nedge1\r\n,3479273021651468\r\n*2\r\n$7\r\nCatania\r\n,3479447370796909\r\n*2\r\n$4\r\nRome\r\n,3480343273965391\r\n*2\r\n$5\r\nParis\r\n,3663832805879806\r\n
georadius g 15 37 2000 km storedist dst count 2	:2\r\n	=
zrange dst 0 -1 withscores	*4\r\n$7\r\nCatania\r\n$18\r\n56.441257870158204\r\n$7\r\nPalermo\r\n$18\r\n190.44242984775784\r\n	*2\r\n*2\r\n$7\r\nCatania\r\n,56.441257870158204\r\n*2\r\n$7\r\nPalermo\r\n,190.44242984775784\r\n
georadius nokey 15 37 200 km	*0\r\n	=
georadius nokey 15 37 200 km store dst	:0\r\n	=
exists dst	:0\r\n	=
georadius_ro g 15 37 200 km store dst	-ERR syntax error\r\n	=
georadius_ro g 15 37 200 km withdist	*2\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n	=
georadiusbymember g Palermo 200 km withdist	*3\r\n*2\r\n$7\r\nPalermo\r\n$6\r\n0.0000\r\n*2\r\n$5\r\nedge1\r\n$7\r\n91.4007\r\n*2\r\n$7\r\nCatania\r\n$8\r\n166.2742\r\n	=
georadiusbymember g Palermo 20000 km withdist count 4	*4\r\n*2\r\n$7\r\nPalermo\r\n$6\r\n0.0000\r\n*2\r\n$5\r\nedge1\r\n$7\r\n91.4007\r\n*2\r\n$7\r\nCatania\r\n$8\r\n166.2742\r\n*2\r\n$4\r\nRome\r\n$8\r\n427.6295\r\n	=
georadiusbymember g nope 200 km	-ERR could not decode requested zset member\r\n	=
georadiusbymember nokey nope 200 km	*0\r\n	=
georadiusbymember nokey nope abc km	*0\r\n	=
georadiusbymember_ro g Palermo 100 km	*2\r\n$7\r\nPalermo\r\n$5\r\nedge1\r\n	=
geosearch g fromlonlat 15 37 byradius 200 km asc withdist	*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n	=
geosearch g frommember Palermo bybox 400 400 km asc withdist withcoord	h:485e6b07b0bc2b0d:265	?
geosearch g frommember Palermo bybox 4000 400 km desc withhash	*3\r\n*2\r\n$7\r\nCatania\r\n:3479447370796909\r\n*2\r\n$5\r\nedge1\r\n:3479273021651468\r\n*2\r\n$7\r\nPalermo\r\n:3479099956230698\r\n	=
geosearch g frommember Paris byradius 1000 km	*2\r\n$5\r\nParis\r\n$6\r\nLondon\r\n	=
geosearch g frommember Paris byradius 1000 mi withdist	*5\r\n*2\r\n$5\r\nParis\r\n$6\r\n0.0000\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n923.6031\r\n*2\r\n$5\r\nedge1\r\n$8\r\n866.8441\r\n*2\r\n$4\r\nRome\r\n$8\r\n687.4596\r\n*2\r\n$6\r\nLondon\r\n$8\r\n212.9744\r\n	=
geosearch g frommember Paris byradius 1000 ft withdist	*1\r\n*2\r\n$5\r\nParis\r\n$6\r\n0.0000\r\n	=
geosearch g fromlonlat 0 0 byradius 20000 km count 3	*3\r\n$7\r\nCatania\r\n$7\r\nPalermo\r\n$5\r\nedge1\r\n	=
geosearch g fromlonlat 0 0 byradius 20000 km withdist	*7\r\n*2\r\n$7\r\nPalermo\r\n$9\r\n4454.7332\r\n*2\r\n$5\r\nedge1\r\n$9\r\n4506.4666\r\n*2\r\n$7\r\nCatania\r\n$9\r\n4449.6961\r\n*2\r\n$4\r\nRome\r\n$9\r\n4826.5510\r\n*2\r\n$5\r\nParis\r\n$9\r\n5439.7174\r\n*2\r\n$5\r\nTokyo\r\n$10\r\n14266.8998\r\n*2\r\n$6\r\nLondon\r\n$9\r\n5728.9846\r\n	=
geosearch g fromlonlat 139 35 bybox 1000 1000 km withdist	*1\r\n*2\r\n$5\r\nTokyo\r\n$7\r\n99.0925\r\n	=
geosearch g fromlonlat 15 37 bybox -1 1 km	-ERR height or width cannot be negative\r\n	=
geosearch g fromlonlat 15 37 bybox a 1 km	-ERR need numeric width\r\n	=
geosearch g fromlonlat 15 37 bybox 1 b km	-ERR need numeric height\r\n	=
geosearch g fromlonlat 15 37	-ERR wrong number of arguments for 'geosearch' command\r\n	=
geosearch g byradius 10 km	-ERR wrong number of arguments for 'geosearch' command\r\n	=
geosearch g frommember nope byradius 10 km	-ERR could not decode requested zset member\r\n	=
geosearch g frommember Palermo fromlonlat 1 1 byradius 10 km	-ERR syntax error\r\n	=
geosearch g frommember Palermo byradius 10 km bybox 1 1 km	-ERR syntax error\r\n	=
geosearch g fromlonlat 15 37 byradius 200 km any	-ERR the ANY argument requires COUNT argument\r\n	=
geosearch g fromlonlat 15 37 byradius 200 km store x	-ERR syntax error\r\n	=
geosearch nokey frommember nope byradius 10 km	*0\r\n	=
geosearch nokey byradius 10 km	-ERR wrong number of arguments for 'geosearch' command\r\n	=
GEOSEARCH g byradius 10 km	-ERR wrong number of arguments for 'geosearch' command\r\n	=
geosearchstore dst g fromlonlat 15 37 byradius 200 km	:2\r\n	=
zrange dst 0 -1 withscores	*4\r\n$7\r\nPalermo\r\n$16\r\n3479099956230698\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n	*2\r\n*2\r\n$7\r\nPalermo\r\n,3479099956230698\r\n*2\r\n$7\r\nCatania\r\n,3479447370796909\r\n
geosearchstore dst g fromlonlat 15 37 byradius 200 km storedist	:2\r\n	=
zrange dst 0 -1 withscores	*4\r\n$7\r\nCatania\r\n$18\r\n56.441257870158204\r\n$7\r\nPalermo\r\n$18\r\n190.44242984775784\r\n	*2\r\n*2\r\n$7\r\nCatania\r\n,56.441257870158204\r\n*2\r\n$7\r\nPalermo\r\n,190.44242984775784\r\n
geosearchstore dst g fromlonlat 15 37 byradius 200 km withdist	-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n	=
geosearchstore dst g fromlonlat 15 37 byradius 1 m	:0\r\n	=
exists dst	:0\r\n	=
geosearchstore dst nokey fromlonlat 15 37 byradius 1 m	:0\r\n	=
geosearch g fromlonlat 15 37 byradius 0 km	*0\r\n	=
geosearch g frommember Palermo byradius 0 km withdist	*1\r\n*2\r\n$7\r\nPalermo\r\n$6\r\n0.0000\r\n	=
geoadd polar 0 85 n1 90 85 n2 180 85 n3 -90 85 n4 0 -85 s1	:5\r\n	=
geosearch polar fromlonlat 0 85 byradius 5000 km withdist asc	*3\r\n*2\r\n$2\r\nn1\r\n$6\r\n0.0000\r\n*2\r\n$2\r\nn4\r\n$8\r\n785.9889\r\n*2\r\n$2\r\nn2\r\n$8\r\n785.9890\r\n	=
geosearch polar fromlonlat 45 84 bybox 20000 2000 km withdist asc	*3\r\n*2\r\n$2\r\nn1\r\n$8\r\n478.7633\r\n*2\r\n$2\r\nn2\r\n$8\r\n478.7633\r\n*2\r\n$2\r\nn4\r\n$9\r\n1130.9072\r\n	=
set s x	+OK\r\n	=
geosearch s fromlonlat 0 0 byradius 1 km	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
georadius s 0 0 1 km	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
"##;
}
