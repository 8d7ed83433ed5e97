-- The TrigpointingUK legacy schema (same table and column names as the site's MySQL database).
-- MySQL/MariaDB: the legacy types. On a legacy database these tables already exist and are left
-- untouched (IF NOT EXISTS); fresh databases get utf8mb4 where the site has latin1.
CREATE TABLE IF NOT EXISTS status (
    id MEDIUMINT PRIMARY KEY,
    name CHAR(20) NOT NULL,
    descr VARCHAR(50) NOT NULL DEFAULT '',
    limit_descr VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS server (
    id MEDIUMINT PRIMARY KEY,
    url VARCHAR(255) NOT NULL,
    path VARCHAR(255) NOT NULL DEFAULT '',
    name VARCHAR(50) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS trig (
    id MEDIUMINT PRIMARY KEY,
    waypoint VARCHAR(8) NOT NULL,
    name VARCHAR(50) NOT NULL,
    status_id INTEGER NOT NULL,
    user_added TINYINT NOT NULL DEFAULT 0,
    current_use VARCHAR(25) NOT NULL DEFAULT '',
    historic_use VARCHAR(30) NOT NULL DEFAULT '',
    physical_type VARCHAR(25) NOT NULL,
    wgs_lat DECIMAL(7,5) NOT NULL,
    wgs_long DECIMAL(7,5) NOT NULL,
    wgs_height MEDIUMINT NOT NULL DEFAULT 0,
    osgb_eastings MEDIUMINT NOT NULL,
    osgb_northings MEDIUMINT NOT NULL,
    osgb_gridref VARCHAR(14) NOT NULL,
    osgb_height MEDIUMINT NOT NULL DEFAULT 0,
    fb_number VARCHAR(10) NOT NULL DEFAULT '',
    stn_number VARCHAR(20) NOT NULL DEFAULT '',
    stn_number_active VARCHAR(20),
    stn_number_passive VARCHAR(20),
    stn_number_osgb36 VARCHAR(20),
    os_net_web_id INTEGER,
    permission_ind CHAR(1) NOT NULL DEFAULT 'Y',
    `condition` CHAR(1) NOT NULL,
    postcode6 VARCHAR(6) NOT NULL DEFAULT '',
    county VARCHAR(20) NOT NULL DEFAULT '',
    town VARCHAR(50) NOT NULL DEFAULT '',
    needs_attention TINYINT NOT NULL DEFAULT 0,
    attention_comment TEXT NOT NULL DEFAULT '',
    crt_date DATE NOT NULL,
    crt_time TIME NOT NULL,
    crt_user_id MEDIUMINT NOT NULL DEFAULT 0,
    crt_ip_addr VARCHAR(15) NOT NULL DEFAULT '',
    admin_user_id MEDIUMINT,
    admin_timestamp TIMESTAMP NULL,
    admin_ip_addr VARCHAR(15),
    upd_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS trigstats (
    id MEDIUMINT PRIMARY KEY,
    logged_first DATE,
    logged_last DATE,
    logged_count MEDIUMINT NOT NULL DEFAULT 0,
    found_last DATE,
    found_count MEDIUMINT NOT NULL DEFAULT 0,
    photo_count MEDIUMINT NOT NULL DEFAULT 0,
    score_mean DECIMAL(5,2) NOT NULL DEFAULT 0,
    score_baysian DECIMAL(5,2) NOT NULL DEFAULT 0,
    area_osgb_height SMALLINT NOT NULL DEFAULT 0,
    upd_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `user` (
    id MEDIUMINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(30) NOT NULL,
    firstname VARCHAR(30) NOT NULL DEFAULT '',
    surname VARCHAR(30) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    email_valid CHAR(1) NOT NULL DEFAULT 'N',
    email_ind CHAR(1) NOT NULL DEFAULT 'N',
    email_challenge VARCHAR(40) NOT NULL DEFAULT '',
    homepage VARCHAR(255) NOT NULL DEFAULT '',
    distance_ind CHAR(1) NOT NULL DEFAULT 'K',
    about TEXT NOT NULL DEFAULT '',
    status_max INTEGER NOT NULL DEFAULT 0,
    public_ind CHAR(1) NOT NULL DEFAULT 'N',
    cryptpw VARCHAR(34) NOT NULL DEFAULT '',
    auth0_user_id VARCHAR(50),
    crt_date DATE NOT NULL,
    crt_time TIME NOT NULL,
    upd_timestamp TIMESTAMP NULL,
    online_map_type VARCHAR(10) NOT NULL DEFAULT '',
    online_map_type2 VARCHAR(10) NOT NULL DEFAULT 'lla',
    cacher_id MEDIUMINT NOT NULL DEFAULT 0,
    home1_name VARCHAR(30) NOT NULL DEFAULT '',
    home1_eastings INTEGER NOT NULL DEFAULT 0,
    home1_northings INTEGER NOT NULL DEFAULT 0,
    home1_gridref VARCHAR(14) NOT NULL DEFAULT '',
    album_rows TINYINT NOT NULL DEFAULT 4,
    album_cols TINYINT NOT NULL DEFAULT 4,
    admin_ind CHAR(1) NOT NULL DEFAULT 'N',
    disclaimer_ind CHAR(1) NOT NULL DEFAULT 'N',
    nearest_max_m INTEGER NOT NULL DEFAULT 10000,
    showscores CHAR(1) NOT NULL DEFAULT 'Y',
    showhandi CHAR(1) NOT NULL DEFAULT 'Y'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS tlog (
    id MEDIUMINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    trig_id MEDIUMINT NOT NULL,
    user_id MEDIUMINT NOT NULL,
    date DATE NOT NULL,
    time TIME NOT NULL,
    osgb_eastings MEDIUMINT,
    osgb_northings MEDIUMINT,
    osgb_gridref VARCHAR(14),
    fb_number VARCHAR(10) NOT NULL DEFAULT '',
    `condition` CHAR(1) NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    score TINYINT NOT NULL DEFAULT 0,
    ip_addr VARCHAR(15) NOT NULL DEFAULT '',
    source CHAR(1) NOT NULL DEFAULT 'W',
    upd_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS tphoto (
    id MEDIUMINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tlog_id MEDIUMINT NOT NULL,
    server_id MEDIUMINT NOT NULL,
    type CHAR(1) NOT NULL DEFAULT '',
    filename VARCHAR(255) NOT NULL DEFAULT '',
    filesize INTEGER NOT NULL DEFAULT 0,
    height MEDIUMINT NOT NULL DEFAULT 0,
    width MEDIUMINT NOT NULL DEFAULT 0,
    icon_filename VARCHAR(255) NOT NULL DEFAULT '',
    icon_filesize INTEGER NOT NULL DEFAULT 0,
    icon_height MEDIUMINT NOT NULL DEFAULT 0,
    icon_width MEDIUMINT NOT NULL DEFAULT 0,
    name VARCHAR(80) NOT NULL DEFAULT '',
    text_desc TEXT NOT NULL DEFAULT '',
    ip_addr VARCHAR(15) NOT NULL DEFAULT '',
    public_ind CHAR(1) NOT NULL DEFAULT 'N',
    deleted_ind CHAR(1) NOT NULL DEFAULT 'N',
    source CHAR(1) NOT NULL DEFAULT 'W',
    crt_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS attrsource (
    id MEDIUMINT PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    descr VARCHAR(255) NOT NULL DEFAULT '',
    url VARCHAR(255),
    sort_order INTEGER NOT NULL DEFAULT 0,
    crt_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS attr (
    id MEDIUMINT PRIMARY KEY,
    attrsource_id INTEGER NOT NULL,
    name VARCHAR(50) NOT NULL,
    description VARCHAR(255) NOT NULL DEFAULT '',
    mandatory CHAR(1) NOT NULL DEFAULT 'N',
    multivalued CHAR(1) NOT NULL DEFAULT 'N',
    grouped CHAR(1) NOT NULL DEFAULT 'N',
    sort_order INTEGER NOT NULL DEFAULT 0,
    style VARCHAR(20) NOT NULL DEFAULT '',
    url_javaclass VARCHAR(255) NOT NULL DEFAULT '',
    type VARCHAR(20) NOT NULL DEFAULT 'string',
    upd_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS attrset (
    id MEDIUMINT PRIMARY KEY,
    trig_id MEDIUMINT NOT NULL,
    attrsource_id INTEGER NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,
    upd_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS attrval (
    id MEDIUMINT PRIMARY KEY,
    attr_id INTEGER NOT NULL,
    value_string VARCHAR(255),
    value_double DOUBLE,
    value_bool TINYINT,
    value_point VARCHAR(50),
    group_name VARCHAR(50),
    upd_timestamp TIMESTAMP NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS attrset_attrval (
    attrset_id MEDIUMINT NOT NULL,
    attrval_id MEDIUMINT NOT NULL,
    PRIMARY KEY (attrset_id, attrval_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
