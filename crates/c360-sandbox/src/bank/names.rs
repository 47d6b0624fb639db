//! Word lists for realistic Chinese content: surnames weighted by frequency, given-name
//! characters, company names, occupations, real administrative region codes, streets,
//! merchants. Generators pick from these with hashed draws.

use super::prng::Draw;

/// Common surnames with their pinyin (for e-mail addresses) and a relative frequency
/// per 10,000 people, after the 2020 census ranking; rare compound surnames included.
pub(crate) const SURNAMES: &[(&str, &str, u64)] = &[
    ("王", "wang", 725),
    ("李", "li", 719),
    ("张", "zhang", 683),
    ("刘", "liu", 538),
    ("陈", "chen", 453),
    ("杨", "yang", 308),
    ("黄", "huang", 223),
    ("赵", "zhao", 214),
    ("吴", "wu", 205),
    ("周", "zhou", 196),
    ("徐", "xu", 175),
    ("孙", "sun", 154),
    ("马", "ma", 129),
    ("朱", "zhu", 128),
    ("胡", "hu", 127),
    ("郭", "guo", 120),
    ("何", "he", 118),
    ("高", "gao", 108),
    ("林", "lin", 107),
    ("罗", "luo", 104),
    ("郑", "zheng", 100),
    ("梁", "liang", 98),
    ("谢", "xie", 90),
    ("宋", "song", 78),
    ("唐", "tang", 75),
    ("许", "xu", 70),
    ("韩", "han", 69),
    ("冯", "feng", 65),
    ("邓", "deng", 64),
    ("曹", "cao", 63),
    ("彭", "peng", 62),
    ("曾", "zeng", 59),
    ("肖", "xiao", 58),
    ("田", "tian", 56),
    ("董", "dong", 55),
    ("袁", "yuan", 54),
    ("潘", "pan", 52),
    ("于", "yu", 51),
    ("蒋", "jiang", 50),
    ("蔡", "cai", 49),
    ("余", "yu", 48),
    ("杜", "du", 47),
    ("叶", "ye", 46),
    ("程", "cheng", 45),
    ("苏", "su", 44),
    ("魏", "wei", 43),
    ("吕", "lv", 42),
    ("丁", "ding", 41),
    ("任", "ren", 40),
    ("沈", "shen", 39),
    ("姚", "yao", 38),
    ("卢", "lu", 37),
    ("姜", "jiang", 36),
    ("崔", "cui", 35),
    ("钟", "zhong", 34),
    ("谭", "tan", 33),
    ("陆", "lu", 32),
    ("汪", "wang", 31),
    ("范", "fan", 30),
    ("金", "jin", 29),
    ("石", "shi", 28),
    ("廖", "liao", 27),
    ("贾", "jia", 26),
    ("夏", "xia", 25),
    ("韦", "wei", 24),
    ("付", "fu", 23),
    ("方", "fang", 22),
    ("白", "bai", 21),
    ("邹", "zou", 20),
    ("孟", "meng", 20),
    ("熊", "xiong", 19),
    ("秦", "qin", 19),
    ("邱", "qiu", 18),
    ("江", "jiang", 18),
    ("尹", "yin", 17),
    ("薛", "xue", 17),
    ("闫", "yan", 16),
    ("段", "duan", 16),
    ("雷", "lei", 15),
    ("侯", "hou", 15),
    ("龙", "long", 14),
    ("史", "shi", 14),
    ("陶", "tao", 13),
    ("黎", "li", 13),
    ("贺", "he", 12),
    ("顾", "gu", 12),
    ("毛", "mao", 12),
    ("郝", "hao", 11),
    ("龚", "gong", 11),
    ("邵", "shao", 11),
    ("万", "wan", 10),
    ("钱", "qian", 10),
    ("严", "yan", 10),
    ("覃", "qin", 9),
    ("武", "wu", 9),
    ("戴", "dai", 9),
    ("莫", "mo", 8),
    ("孔", "kong", 8),
    ("向", "xiang", 8),
    ("汤", "tang", 8),
    ("欧阳", "ouyang", 3),
    ("司马", "sima", 1),
    ("上官", "shangguan", 1),
    ("诸葛", "zhuge", 1),
];

pub(crate) const MALE_GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁", "龙", "林", "阳", "建", "国",
    "志", "文", "博", "晨", "昊", "天", "泽", "宏", "海", "峰", "毅", "锋", "睿",
];

pub(crate) const FEMALE_GIVEN: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "燕", "红", "婷", "雪", "琳", "晶",
    "颖", "倩", "慧", "莉", "佳", "悦", "欣", "怡", "瑶", "璐", "萍", "梅", "蕾", "薇", "雯", "琪",
    "思", "梦", "诗", "涵", "嘉", "晓", "月", "彤", "洁", "蓉", "岚", "露", "云",
];

/// A real county-level administrative division: (GB/T 2260 code, province, city, district).
pub(crate) type Region = (u32, &'static str, &'static str, &'static str);

/// Real GB/T 2260 district codes, used in resident IDs, USCCs, addresses and branch numbers.
pub(crate) const REGIONS: &[Region] = &[
    (110101, "北京市", "北京市", "东城区"),
    (110102, "北京市", "北京市", "西城区"),
    (110105, "北京市", "北京市", "朝阳区"),
    (110106, "北京市", "北京市", "丰台区"),
    (110108, "北京市", "北京市", "海淀区"),
    (120101, "天津市", "天津市", "和平区"),
    (120104, "天津市", "天津市", "南开区"),
    (130102, "河北省", "石家庄市", "长安区"),
    (140105, "山西省", "太原市", "小店区"),
    (150102, "内蒙古自治区", "呼和浩特市", "新城区"),
    (210102, "辽宁省", "沈阳市", "和平区"),
    (210202, "辽宁省", "大连市", "中山区"),
    (220102, "吉林省", "长春市", "南关区"),
    (230102, "黑龙江省", "哈尔滨市", "道里区"),
    (310101, "上海市", "上海市", "黄浦区"),
    (310104, "上海市", "上海市", "徐汇区"),
    (310105, "上海市", "上海市", "长宁区"),
    (310106, "上海市", "上海市", "静安区"),
    (310107, "上海市", "上海市", "普陀区"),
    (310110, "上海市", "上海市", "杨浦区"),
    (310112, "上海市", "上海市", "闵行区"),
    (310115, "上海市", "上海市", "浦东新区"),
    (320102, "江苏省", "南京市", "玄武区"),
    (320106, "江苏省", "南京市", "鼓楼区"),
    (320211, "江苏省", "无锡市", "滨湖区"),
    (320508, "江苏省", "苏州市", "姑苏区"),
    (330102, "浙江省", "杭州市", "上城区"),
    (330106, "浙江省", "杭州市", "西湖区"),
    (330203, "浙江省", "宁波市", "海曙区"),
    (340104, "安徽省", "合肥市", "蜀山区"),
    (350102, "福建省", "福州市", "鼓楼区"),
    (350203, "福建省", "厦门市", "思明区"),
    (360102, "江西省", "南昌市", "东湖区"),
    (370102, "山东省", "济南市", "历下区"),
    (370202, "山东省", "青岛市", "市南区"),
    (410105, "河南省", "郑州市", "金水区"),
    (420102, "湖北省", "武汉市", "江岸区"),
    (420106, "湖北省", "武汉市", "武昌区"),
    (430102, "湖南省", "长沙市", "芙蓉区"),
    (440103, "广东省", "广州市", "荔湾区"),
    (440104, "广东省", "广州市", "越秀区"),
    (440106, "广东省", "广州市", "天河区"),
    (440303, "广东省", "深圳市", "罗湖区"),
    (440304, "广东省", "深圳市", "福田区"),
    (440305, "广东省", "深圳市", "南山区"),
    (450103, "广西壮族自治区", "南宁市", "青秀区"),
    (460106, "海南省", "海口市", "龙华区"),
    (500103, "重庆市", "重庆市", "渝中区"),
    (500106, "重庆市", "重庆市", "沙坪坝区"),
    (510104, "四川省", "成都市", "锦江区"),
    (510107, "四川省", "成都市", "武侯区"),
    (520102, "贵州省", "贵阳市", "南明区"),
    (530102, "云南省", "昆明市", "五华区"),
    (540102, "西藏自治区", "拉萨市", "城关区"),
    (610103, "陕西省", "西安市", "碑林区"),
    (620102, "甘肃省", "兰州市", "城关区"),
    (630102, "青海省", "西宁市", "城东区"),
    (640104, "宁夏回族自治区", "银川市", "兴庆区"),
    (650102, "新疆维吾尔自治区", "乌鲁木齐市", "天山区"),
];

pub(crate) const STREETS: &[&str] = &[
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "南京路",
    "淮海路",
    "长江路",
    "和平路",
    "新华路",
    "文化路",
    "胜利路",
    "光明路",
    "学府路",
    "科技路",
    "滨江大道",
    "世纪大道",
    "青年路",
    "朝阳路",
];

/// Two-character trade names (字号) for companies.
pub(crate) const TRADE_NAMES: &[&str] = &[
    "恒瑞", "华信", "鼎盛", "宏达", "金桥", "中科", "远航", "新锐", "天成", "瑞丰", "博远", "安泰",
    "汇通", "嘉禾", "永信", "德隆", "盛世", "启明", "卓越", "星辰", "海纳", "联创", "佳和", "润泽",
    "力拓", "凯旋", "长风", "晨光", "优品", "云帆",
];

/// Company business words with the national-economy industry (GB/T 4754) they belong to.
pub(crate) const BUSINESSES: &[(&str, &str)] = &[
    ("贸易", "批发和零售业"),
    ("商贸", "批发和零售业"),
    ("科技", "科学研究和技术服务业"),
    ("信息技术", "信息传输、软件和信息技术服务业"),
    ("软件", "信息传输、软件和信息技术服务业"),
    ("建设工程", "建筑业"),
    ("物流", "交通运输、仓储和邮政业"),
    ("餐饮管理", "住宿和餐饮业"),
    ("医疗器械", "制造业"),
    ("电子", "制造业"),
    ("食品", "制造业"),
    ("机械制造", "制造业"),
    ("服装", "制造业"),
    ("文化传媒", "文化、体育和娱乐业"),
    ("新能源", "电力、热力、燃气及水生产和供应业"),
    ("生物医药", "制造业"),
    ("环保科技", "水利、环境和公共设施管理业"),
    ("房地产开发", "房地产业"),
    ("企业管理咨询", "租赁和商务服务业"),
];

/// Occupations of working-age individuals.
pub(crate) const OCCUPATIONS: &[&str] = &[
    "工程师",
    "教师",
    "医生",
    "护士",
    "公务员",
    "会计",
    "销售人员",
    "个体工商户",
    "企业管理人员",
    "律师",
    "软件开发人员",
    "设计师",
    "司机",
    "厨师",
    "自由职业者",
    "工人",
    "农民",
    "金融从业人员",
    "科研人员",
    "快递员",
];

/// Merchants for card and mobile payments.
pub(crate) const MERCHANTS: &[&str] = &[
    "美团",
    "京东商城",
    "盒马鲜生",
    "星巴克",
    "肯德基",
    "中国石化加油站",
    "永辉超市",
    "滴滴出行",
    "拼多多",
    "淘宝",
    "沃尔玛",
    "国家电网",
    "中国移动",
    "携程旅行",
    "12306铁路",
    "瑞幸咖啡",
];

/// Mainland mobile number prefixes of the three carriers.
pub(crate) const MOBILE_PREFIXES: &[u16] = &[
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 147, 149, 150, 151, 152, 153, 155, 156, 157,
    158, 159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191,
    198, 199,
];

pub(crate) const EMAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "outlook.com",
];

/// Sum of the surname weights, computed once at compile time.
const SURNAME_TOTAL: u64 = {
    let mut total = 0;
    let mut i = 0;
    while i < SURNAMES.len() {
        total += SURNAMES[i].2;
        i += 1;
    }
    total
};

fn weighted_surname(draw: &mut Draw) -> (&'static str, &'static str, u64) {
    let mut roll = draw.below(SURNAME_TOTAL);
    for entry in SURNAMES {
        if roll < entry.2 {
            return *entry;
        }
        roll -= entry.2;
    }
    SURNAMES[0]
}

/// A person's name: a frequency-weighted surname and one or two given-name characters.
/// Returns the name and the surname's pinyin.
pub(crate) fn person_name(draw: &mut Draw, male: bool) -> (String, &'static str) {
    let (surname, pinyin, _) = weighted_surname(draw);
    let pool = if male { MALE_GIVEN } else { FEMALE_GIVEN };
    let mut name = String::from(surname);
    let length = if draw.chance(350) { 1 } else { 2 };
    for _ in 0..length {
        name.push_str(draw.pick::<&str>(pool));
    }
    (name, pinyin)
}

/// A company name such as `上海恒瑞贸易有限公司`, with its industry.
pub(crate) fn company_name(draw: &mut Draw, region: &Region) -> (String, &'static str) {
    let city = region.2.trim_end_matches('市');
    let trade = draw.pick(TRADE_NAMES);
    let (business, industry) = *draw.pick(BUSINESSES);
    let suffix = match draw.weighted(&[80, 15, 5]) {
        0 => "有限公司",
        1 => "股份有限公司",
        _ => "集团有限公司",
    };
    (format!("{city}{trade}{business}{suffix}"), industry)
}

/// A street address in `region`; individuals get a flat number.
pub(crate) fn address(draw: &mut Draw, region: &Region, flat: bool) -> String {
    let (_, province, city, district) = *region;
    let mut text = String::new();
    if province != city {
        text.push_str(province);
    }
    text.push_str(city);
    text.push_str(district);
    text.push_str(draw.pick::<&str>(STREETS));
    text.push_str(&format!("{}号", draw.range(1, 999)));
    if flat {
        text.push_str(&format!(
            "{}幢{}室",
            draw.range(1, 30),
            draw.range(1, 32) * 100 + draw.range(1, 4)
        ));
    }
    text
}
